// Bundles the compiled CLI (dist/src/cli/main.js) with kysely and commander into
// dist/bundle/: Node then loads a few files instead of ~400 ES modules, which is most of a
// command's start-up time. bin/gitswarm.js uses the bundle while it is newer than the compiled
// tree and falls back to dist/src otherwise. Run after `tsc -p tsconfig.build.json`.
// Uses rolldown (installed with vitest's vite); without it, says so and leaves the fallback.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isExternal } from './bundle-externals.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = `${root}dist/bundle`;

let rolldown;
try {
  rolldown = await import('rolldown');
} catch {
  console.error('bundle-cli: rolldown is not installed; gitswarm runs from dist/src (slower start-up).');
  process.exit(0);
}

rmSync(outDir, { recursive: true, force: true });
await rolldown.build({
  input: `${root}dist/src/cli/main.js`,
  platform: 'node',
  external: isExternal,
  output: {
    dir: outDir,
    format: 'esm',
    entryFileNames: 'gitswarm.mjs',
    chunkFileNames: '[name]-[hash].mjs',
  },
  logLevel: 'warn',
});
// The command server's client, alone and as CommonJS: bin/gitswarm.js loads it before anything
// else on every command, and one CommonJS file loads faster than ES modules that must be linked.
// Minified: V8 parses all of it on every command, and its comments alone are half its size
// (0.45-0.55 ms to load against 0.7-0.75 ms).
await rolldown.build({
  input: `${root}dist/src/cli/daemon/client.js`,
  platform: 'node',
  external: (id) => id.startsWith('node:'),
  output: { file: `${outDir}/daemon-client.cjs`, format: 'cjs', minify: true },
  logLevel: 'warn',
});
console.error(`bundle-cli: wrote ${outDir}/gitswarm.mjs and ${outDir}/daemon-client.cjs`);
