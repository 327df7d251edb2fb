// Bundles the dashboard (src/web/) for browsers into dist/web/: one minified entry script and its
// lazily loaded chunks under assets/ with content hashes in their names (served as immutable), the
// stylesheet likewise, and index.html naming them. Each asset is also written precompressed (.br
// and .gz) so the server compresses nothing per request. Prints the first-load JavaScript size
// compressed and fails above the budget (150 KB gzip). Run after tsc (it reads src/web directly).
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('..', import.meta.url));
const FIRST_LOAD_BUDGET = 150 * 1024;

/** The gzip and brotli sizes of `bytes`, after writing both beside `path`. */
function precompress(path, bytes) {
  const gz = gzipSync(bytes, { level: 9 });
  const br = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
  writeFileSync(`${path}.gz`, gz);
  writeFileSync(`${path}.br`, br);
  return { gzip: gz.length, brotli: br.length };
}

/**
 * Builds the dashboard into `outDir` (default dist/web); resolves to the first-load sizes.
 * Exported for tests, which build into a directory of their own.
 */
export async function bundleWeb(outDir = join(root, 'dist', 'web')) {
  const { build } = await import('rolldown');
  const assets = join(outDir, 'assets');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(assets, { recursive: true });
  const result = await build({
    input: join(root, 'src', 'web', 'main.ts'),
    platform: 'browser',
    output: {
      dir: assets,
      format: 'esm',
      minify: true,
      entryFileNames: '[name]-[hash].js',
      chunkFileNames: '[name]-[hash].js',
    },
    logLevel: 'warn',
  });
  const entry = result.output.find((chunk) => chunk.type === 'chunk' && chunk.isEntry);
  if (!entry) throw new Error('bundle-web: rolldown produced no entry chunk');
  // uPlot's own small stylesheet (the karma chart) goes with ours: one stylesheet, one request.
  const css = Buffer.concat([
    readFileSync(join(root, 'src', 'web', 'style.css')),
    readFileSync(join(root, 'node_modules', 'uplot', 'dist', 'uPlot.min.css')),
  ]);
  const cssName = `style-${createHash('sha256').update(css).digest('hex').slice(0, 10)}.css`;
  writeFileSync(join(assets, cssName), css);
  const html = readFileSync(join(root, 'src', 'web', 'index.html'), 'utf8')
    .replace('%STYLE%', `/assets/${cssName}`)
    .replace('%SCRIPT%', `/assets/${entry.fileName}`);
  writeFileSync(join(outDir, 'index.html'), html);

  const sizes = {};
  for (const name of readdirSync(assets)) {
    const path = join(assets, name);
    const bytes = readFileSync(path);
    sizes[name] = { raw: bytes.length, ...precompress(path, bytes) };
  }
  precompress(join(outDir, 'index.html'), Buffer.from(html));
  // First load: the entry and the chunks it imports statically (lazy chunks load on their page).
  const firstLoad = [entry.fileName, ...entry.imports];
  const firstLoadGzip = firstLoad.reduce((sum, name) => sum + sizes[name].gzip, 0);
  const firstLoadRaw = firstLoad.reduce((sum, name) => sum + sizes[name].raw, 0);
  const report = { entry: entry.fileName, style: cssName, firstLoad, firstLoadRaw, firstLoadGzip, sizes };
  writeFileSync(join(outDir, 'manifest.json'), `${JSON.stringify(report, null, 2)}\n`);
  if (firstLoadGzip > FIRST_LOAD_BUDGET) {
    throw new Error(
      `bundle-web: first-load JavaScript is ${firstLoadGzip} bytes gzip, over the ${FIRST_LOAD_BUDGET} budget`,
    );
  }
  return report;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const report = await bundleWeb(process.argv[2]);
    console.error(
      `bundle-web: wrote dist/web (first-load JavaScript ${(report.firstLoadGzip / 1024).toFixed(1)} KB gzip, ` +
        `${(report.firstLoadRaw / 1024).toFixed(1)} KB minified)`,
    );
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}
