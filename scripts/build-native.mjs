// Builds the command server's native client (src/cli/daemon/native/client.c) into
// dist/native/gitswarm with the system's C compiler ($CC, else cc). Without a compiler, or where it
// fails, the build goes on without it: bin/gitswarm then runs the Node client, as fast as Node starts.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const source = join(root, 'src', 'cli', 'daemon', 'native', 'client.c');
const output = join(root, 'dist', 'native', 'gitswarm');

mkdirSync(join(root, 'dist', 'native'), { recursive: true });
rmSync(output, { force: true }); // never leave the client of an older source behind
const compiler = process.env.CC || 'cc';
const flags = ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', output, source];
const result = spawnSync(compiler, flags, { stdio: ['ignore', 'inherit', 'inherit'] });
if (result.error || result.status !== 0) {
  const why = result.error ? result.error.message : `exit ${result.status}`;
  process.stderr.write(
    `build: no native client (${compiler}: ${why}); gitswarm runs its Node client instead\n`,
  );
}
