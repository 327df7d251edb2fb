/**
 * The README walkthrough, typed as written into a shell in a fresh repository with the built CLI:
 * every command succeeds and the loop ends with nothing left dangling (no workspace, no extra
 * worktree, the task completed, main promoted to a green buffer).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSandbox } from '../../src/engine/sandbox.js';
import { readmeBlock } from '../helpers/readme.js';
import { BIN, createTestRepo } from './helpers.js';

const sandbox = await checkSandbox();
if (!sandbox.ok) console.log(`[gitswarm tests] ${sandbox.reason}: the README walkthrough test is skipped.`);

const repo = createTestRepo();
afterAll(() => repo.close());

describe('README walkthrough', () => {
  it.skipIf(!sandbox.ok)('runs as written and leaves nothing dangling', () => {
    // The project's own test command, which the walkthrough's stabilize step runs.
    writeFileSync(join(repo.dir, 'package.json'), '{"scripts": {"test": "node -e 0"}}\n');
    repo.git(['add', 'package.json']);
    repo.git(['commit', '-q', '-m', 'Add the test command']);

    const script = `set -euo pipefail\ngitswarm() { "${process.execPath}" "${BIN}" "$@"; }\n${readmeBlock('walkthrough')}\n`;
    const run = spawnSync('bash', ['-c', script], { cwd: repo.dir, env: repo.env, encoding: 'utf8' });
    expect({ status: run.status, stderr: run.stderr }).toMatchObject({ status: 0 });
    expect(run.stdout).toContain('Merged stream');
    expect(run.stdout).toContain('task #1 is completed');
    expect(run.stdout).toContain('Promoted main');

    const json = (args: string[]) =>
      JSON.parse(
        execFileSync(process.execPath, [BIN, ...args, '--json'], {
          cwd: repo.dir,
          env: repo.env,
          encoding: 'utf8',
        }),
      );
    expect(json(['workspace', 'list']).workspaces).toEqual([]);
    expect(json(['task', 'show', '1']).task.status).toBe('completed');
    expect(json(['status']).streams).toEqual([]);
    expect(repo.git(['worktree', 'list', '--porcelain']).match(/^worktree /gm)).toHaveLength(1);
    expect(repo.git(['rev-parse', 'main'])).toBe(repo.git(['rev-parse', 'buffer']));
    expect(repo.git(['status', '--porcelain'])).toBe('');
  });
});
