/**
 * The mutation check judges the lines a stop changed: a file moved into another folder counts only
 * the lines changed in the move, not every line of it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without declarations
import { changedRanges } from '../../scripts/mutation-changed.mjs';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t.invalid',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t.invalid',
    },
  });
const lines = (n: number, change?: number) =>
  `${Array.from({ length: n }, (_, i) =>
    i + 1 === change ? `const changed${i} = 1;` : `const line${i} = ${i};`,
  ).join('\n')}\n`;

describe('changedRanges', () => {
  let repo: string;
  afterEach(() => rmSync(repo, { recursive: true, force: true }));

  function repoWith(files: Record<string, string>): string {
    repo = mkdtempSync(join(tmpdir(), 'gs-mutation-changed-'));
    git(repo, 'init', '-q');
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(repo, path, '..'), { recursive: true });
      writeFileSync(join(repo, path), text);
    }
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'base');
    return git(repo, 'rev-parse', 'HEAD').trim();
  }

  it('follows a moved file: only the line changed with the move counts, under the new path', () => {
    const base = repoWith({ 'src/core/rule.ts': lines(60) });
    mkdirSync(join(repo, 'src/core/domain'));
    git(repo, 'mv', 'src/core/rule.ts', 'src/core/domain/rule.ts');
    writeFileSync(join(repo, 'src/core/domain/rule.ts'), lines(60, 7));
    expect([...changedRanges(base, repo)]).toEqual([['src/core/domain/rule.ts', [[7, 7]]]]);
  });

  it('counts every line of a new file and the changed lines of an edited one', () => {
    const base = repoWith({ 'src/a.ts': lines(10) });
    writeFileSync(join(repo, 'src/a.ts'), lines(10, 3));
    writeFileSync(join(repo, 'src/b.ts'), lines(4));
    git(repo, 'add', '-A');
    expect(new Map(changedRanges(base, repo))).toEqual(
      new Map([
        ['src/a.ts', [[3, 3]]],
        ['src/b.ts', [[1, 4]]],
      ]),
    );
  });
});
