/** Green tags' names: one per second, then `-2`, `-3`, …, chosen from the tags listed and safe against a race. */
import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tagGreen } from '../../src/engine/green-tags.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { makeRepo, TEST_IDENTITY, type TestRepo } from '../helpers/git-fixture.js';

let repo: TestRepo;
beforeEach(async () => {
  repo = await makeRepo();
});
afterEach(() => repo.cleanup());

const at = new Date('2026-12-06T10:20:36.500Z');
const tag = (commit: string) => tagGreen(repo.dir, { commit, at, message: 'green\n', author: TEST_IDENTITY });

describe('green tags', () => {
  it('names the tags of one second -2, -3, … without trying the names already taken', async () => {
    const commits: string[] = [];
    for (let i = 0; i < 3; i++) commits.push(await repo.commitOn('buffer', { [`f${i}.txt`]: `${i}\n` }));
    const [first, second, third] = commits as [string, string, string];
    expect(await tag(first)).toEqual({ name: 'green/20261206T102036Z', created: true });
    expect(await tag(second)).toEqual({ name: 'green/20261206T102036Z-2', created: true });
    const calls = recordGitCalls();
    expect(await withCommandEnv(calls.env, () => tag(third))).toEqual({
      name: 'green/20261206T102036Z-3',
      created: true,
    });
    expect(calls.commands()).toEqual(['for-each-ref', 'tag']);
    expect(await repo.rev('green/20261206T102036Z-3')).toBe(third);
    // A commit tagged already keeps its tag.
    expect(await tag(second)).toEqual({ name: 'green/20261206T102036Z-2', created: false });
  });

  it('takes the next name when another process took the one it chose after the listing', async () => {
    const first = await repo.commitOn('buffer', { 'a.txt': 'a\n' });
    const second = await repo.commitOn('buffer', { 'b.txt': 'b\n' });
    // A git whose listing is followed at once by someone else's tag of the same second.
    const calls = recordGitCalls();
    const bin = (calls.env.PATH ?? '').split(':')[0] as string;
    writeFileSync(
      `${bin}/git`,
      `#!/bin/sh\necho "$*" >> '${bin}/calls'\ncase "$*" in\n  *for-each-ref*) /usr/bin/git "$@"; s=$?; /usr/bin/git -c user.name=other -c user.email=other@example.test tag -m raced green/20261206T102036Z ${first}; exit $s;;\nesac\nexec /usr/bin/git "$@"\n`,
      { mode: 0o755 },
    );
    expect(await withCommandEnv(calls.env, () => tag(second))).toEqual({
      name: 'green/20261206T102036Z-2',
      created: true,
    });
    expect(calls.commands()).toEqual(['for-each-ref', 'tag', 'tag']);
    expect(await repo.rev('green/20261206T102036Z')).toBe(first);
    expect(await repo.rev('green/20261206T102036Z-2')).toBe(second);
  });
});
