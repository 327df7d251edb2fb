/**
 * How many git processes a landed swarm commit costs on a server-held repository (Mode C,
 * `POST /streams/:id/commits`): stage, commit, merge-tree, update-ref (the merge commit is written
 * in-process) — the same four as a CLI commit (test/cli/swarm-git-spawns.test.ts). The merge asks which worktrees have the
 * buffer checked out; for the server's bare repository that is read from disk, not from
 * `git rev-parse` and `git worktree list`, since every spawn is paid under the repository's lock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCommandEnv } from '../../src/util/command-env.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { type ModeC, startModeC } from './mode-c-fixture.js';

/** The git subcommand of each logged call (the first word that is no option or `-c` setting). */
function subcommands(calls: string[]): string[] {
  return calls.map((line) => {
    const words = line.split(' ');
    for (let i = 0; i < words.length; i++) {
      if (words[i] === '-c') i++;
      else if (!words[i]?.startsWith('-')) return words[i] as string;
    }
    return line;
  });
}

describe('sqlite: git processes per landed Mode C swarm commit', () => {
  let t: ModeC;
  beforeAll(async () => {
    t = await startModeC('sqlite');
  });
  afterAll(async () => t?.close());

  it('writes, commits and merges with four git processes, the first commit of a stream too', async () => {
    const agent = await t.agent();
    const repo = (
      await t.call(agent, 'POST', '/repos', { name: 'spawns', server_git: true, merge_mode: 'swarm' })
    ).body.repo;
    const stream = (await t.call(agent, 'POST', `/repos/${repo.id}/streams`, {})).body.stream;
    for (let i = 0; i < 2; i++) {
      const git = recordGitCalls();
      const [written, committed] = await withCommandEnv(git.env, async () => [
        await t.call(agent, 'PUT', `/streams/${stream.id}/files/f${i}.txt`, { content: `change ${i}\n` }),
        await t.call(agent, 'POST', `/streams/${stream.id}/commits`, { message: `change ${i}` }),
      ]);
      expect(written?.status).toBe(201);
      expect(committed?.body.merged, JSON.stringify(committed?.body)).toBe(true);
      const spawned = subcommands(git.calls());
      // The stream's first write checks the object format once (the worktree's files API).
      expect(spawned.filter((name) => name !== 'rev-parse')).toEqual([
        'add',
        'commit',
        'merge-tree',
        'update-ref',
      ]);
      expect(git.calls().filter((line) => line.startsWith('rev-parse'))).toEqual(
        i === 0 ? ['rev-parse --show-object-format'] : [],
      );
    }
  });
});
