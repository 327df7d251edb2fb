/**
 * Commit objects for server tests that need no clone: the text git writes for a commit and the id
 * git gives it (the server checks both; test/core/sync/commit-objects.test.ts checks them against git).
 */
import { createHash, randomBytes } from 'node:crypto';

export const sha = () => randomBytes(20).toString('hex');

/** A commit object with these parents and its id, as `git cat-file commit` prints and hashes it. */
export function commitObject(parents: string[], message = 'Merge\n'): { id: string; raw: string } {
  const raw = [
    `tree ${sha()}`,
    ...parents.map((p) => `parent ${p}`),
    'author Agent <a@example.invalid> 1700000000 +0000',
    'committer Agent <a@example.invalid> 1700000000 +0000',
    '',
    message,
  ].join('\n');
  const bytes = Buffer.from(raw, 'utf8');
  const id = createHash('sha1').update(`commit ${bytes.length}\0`).update(bytes).digest('hex');
  return { id, raw };
}

/** The PATCH body reporting a merge of `head` made on `base`. */
export function mergeReport(base: string, head: string) {
  const merge = commitObject([base, head]);
  return { status: 'merged', merge_commit: merge.id, commit_object: merge.raw };
}
