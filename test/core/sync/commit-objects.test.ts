/**
 * verifyCommitObject against real git: the object `git cat-file commit` prints hashes to the
 * commit's id (SHA-1 and SHA-256 repositories), its parents are read in order, and any edit or a
 * wrong id is refused.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyCommitObject } from '../../../src/core/sync/commit-objects.js';
import { GitSwarmError } from '../../../src/errors.js';

const ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Ünïcode Author',
  GIT_AUTHOR_EMAIL: 'a@example.invalid',
  GIT_COMMITTER_NAME: 'Committer',
  GIT_COMMITTER_EMAIL: 'c@example.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A repository with a merge commit; null when this git cannot make the object format. */
function repoWithMerge(format: 'sha1' | 'sha256') {
  const dir = mkdtempSync(join(tmpdir(), `gitswarm-objects-${format}-`));
  dirs.push(dir);
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, env: ENV, encoding: 'utf8' });
  try {
    git('init', '-q', '-b', 'main', `--object-format=${format}`);
  } catch {
    return null;
  }
  const commit = (file: string, message: string) => {
    writeFileSync(join(dir, file), `${file}\n`);
    git('add', '-A');
    git('commit', '-q', '-m', message);
    return git('rev-parse', 'HEAD').trim();
  };
  const base = commit('a.txt', 'initial');
  git('checkout', '-q', '-b', 'stream');
  const head = commit('b.txt', 'Stream work\n\nWith a body — and non-ASCII text.');
  git('checkout', '-q', 'main');
  commit('c.txt', 'Buffer moved');
  const first = git('rev-parse', 'HEAD').trim();
  git('merge', '-q', '--no-ff', '-m', 'Merge stream', 'stream');
  const merge = git('rev-parse', 'HEAD').trim();
  return { git, base, head, first, merge };
}

describe('verifyCommitObject', () => {
  for (const format of ['sha1', 'sha256'] as const) {
    it(`reads the parents of a real ${format} merge commit and refuses edits`, () => {
      const repo = repoWithMerge(format);
      if (repo === null) {
        // Git older than 2.29 has no SHA-256 repositories; SHA-1 always runs.
        expect(format).toBe('sha256');
        return;
      }
      const raw = repo.git('cat-file', 'commit', repo.merge);
      const verified = verifyCommitObject(repo.merge, raw);
      expect(verified.parents).toEqual([repo.first, repo.head]);
      expect(verified.tree).toBe(repo.git('rev-parse', `${repo.merge}^{tree}`).trim());
      expect(verifyCommitObject(repo.base, repo.git('cat-file', 'commit', repo.base)).parents).toEqual([]);

      const refused = (id: string, text: string) => {
        expect(() => verifyCommitObject(id, text)).toThrow(GitSwarmError);
      };
      refused(repo.merge, raw.replace('Merge stream', 'Merge strean'));
      refused(repo.merge, raw.replace(repo.first, repo.base));
      refused(repo.merge, raw.trimEnd());
      refused(repo.head, raw);
      refused(repo.merge, '');
      refused('HEAD', raw);
    });
  }
});
