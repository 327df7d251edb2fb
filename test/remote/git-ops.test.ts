/**
 * The git of a connected clone with real git: a bare remote and a clone of it. What the merge
 * path reads without a git process (loose objects, loose tracking refs) must be what git answers,
 * and where it cannot be read so, git still answers.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gitOut } from '../../src/engine/git.js';
import { connectedGit } from '../../src/remote/git-ops.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { makeRepo, TEST_ENV, type TestRepo } from '../helpers/git-fixture.js';

let origin: TestRepo;
let base: string;
let clone: string;
const run = (args: readonly string[]) => gitOut(args, { cwd: clone, env: TEST_ENV });

beforeEach(async () => {
  origin = await makeRepo();
  base = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-git-ops-')));
  const bare = join(base, 'shared.git');
  await gitOut(['clone', '-q', '--bare', origin.dir, bare], { cwd: base, env: TEST_ENV });
  await gitOut(['branch', 'buffer', 'main'], { cwd: bare, env: TEST_ENV });
  clone = join(base, 'clone');
  await gitOut(['clone', '-q', bare, clone], { cwd: base, env: TEST_ENV });
});
afterEach(() => {
  origin.cleanup();
  rmSync(base, { recursive: true, force: true });
});

async function newCommit(message: string): Promise<string> {
  const main = await run(['rev-parse', 'main']);
  return run(['commit-tree', `${main}^{tree}`, '-p', main, '-m', message]);
}

describe('connectedGit', () => {
  it('reads a loose commit without git, byte for byte as git cat-file, and a packed one from git', async () => {
    const git = connectedGit(clone, 'origin');
    const commit = await newCommit('Subject ✓\n\nBody\n');
    const expected = `${await run(['cat-file', 'commit', commit])}\n`;
    const calls = recordGitCalls();
    await withCommandEnv(calls.env, async () => {
      expect(await git.hasCommit(commit)).toBe(true);
      expect(await git.commitObject(commit)).toBe(expected);
    });
    expect(calls.calls()).toEqual([]);
    const tree = await run(['rev-parse', `${commit}^{tree}`]);
    expect(await git.hasCommit(tree)).toBe(false);
    expect(await git.hasCommit('e'.repeat(40))).toBe(false);

    await run(['repack', '-a', '-d', '-q']);
    await run(['prune-packed']);
    // The commit above is unreachable, so repack -a leaves it loose; main is packed.
    const packed = await run(['rev-parse', 'main']);
    const packedText = `${await run(['cat-file', 'commit', packed])}\n`;
    await withCommandEnv(calls.env, async () => {
      expect(await git.hasCommit(packed)).toBe(true);
      expect(await git.commitObject(packed)).toBe(packedText);
    });
    expect(calls.calls().map((call) => call.split(' ').slice(0, 2).join(' '))).toEqual([
      'cat-file -e',
      'cat-file commit',
    ]);
  });

  it("pushIfAt leaves the tracking ref at the pushed commit, whether or not git's push moved it", async () => {
    const git = connectedGit(clone, 'origin');
    const main = await run(['rev-parse', 'main']);
    const first = await newCommit('first');
    const moved = recordGitCalls();
    expect(await withCommandEnv(moved.env, () => git.pushIfAt('buffer', first, main))).toEqual({
      ok: true,
      already: false,
    });
    // The remote's fetch refspec maps the branch: git moved the tracking ref, nothing else runs.
    expect(moved.commands()).toEqual(['push']);
    expect(await git.remoteHead('buffer')).toBe(first);

    // Without a fetch refspec git's push moves no tracking ref: the clone moves it itself.
    await run(['config', '--unset-all', 'remote.origin.fetch']);
    const second = await newCommit('second');
    expect(await git.pushIfAt('buffer', second, first)).toEqual({ ok: true, already: false });
    expect(await git.remoteHead('buffer')).toBe(second);
    // The remote moved meanwhile: nothing pushed, the tracking ref untouched.
    expect(await git.pushIfAt('buffer', await newCommit('third'), first)).toEqual({
      ok: false,
      already: false,
    });
    expect(await git.remoteHead('buffer')).toBe(second);
  });
});
