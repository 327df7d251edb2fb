/**
 * Green tags: `green/<UTC timestamp>` annotated tags on buffer commits the stabilize command
 * passed on. They bound bisection (merges since the last green) and promotion (main never moves
 * past the newest green on the buffer's first-parent line unless forced).
 */
import { isGitSwarmError } from '../errors.js';
import type { GitIdentity } from './author.js';
import { gitOut } from './git.js';
import { assertRevision } from './names.js';
import { createTag, listTags } from './repo.js';
import { compactUtc } from './stabilize-run.js';

export const GREEN_TAG_PREFIX = 'green/';

export interface GreenTag {
  name: string;
  commit: string;
}

/** `green/20261124T153012Z` for a moment. */
export function greenTagName(at: Date): string {
  return `${GREEN_TAG_PREFIX}${compactUtc(at)}`;
}

/** Every green tag, oldest first. */
export function listGreenTags(repoDir: string): Promise<GreenTag[]> {
  return listTags(repoDir, `${GREEN_TAG_PREFIX}*`);
}

/**
 * The newest green-tagged commit on `head`'s first-parent line (head itself included), or null.
 * A green commit reachable only through a merged stream's side of history does not count: it
 * was never the buffer.
 */
export async function findLastGreen(repoDir: string, head: string): Promise<GreenTag | null> {
  assertRevision(head);
  const tags = await listGreenTags(repoDir);
  if (tags.length === 0) return null;
  const byCommit = new Map<string, GreenTag>();
  // Oldest first, so the newest tag of a commit wins.
  for (const tag of tags) byCommit.set(tag.commit, tag);
  const out = await gitOut(['rev-list', '--first-parent', head, '--'], { cwd: repoDir });
  for (const commit of out.split('\n')) {
    const tag = byCommit.get(commit);
    if (tag) return tag;
  }
  return null;
}

export interface TagGreenOptions {
  commit: string;
  at: Date;
  message: string;
  author: GitIdentity;
}

/**
 * Tags `commit` green and returns the tag's name. A commit that already carries a green tag keeps
 * it (no second tag); two runs in the same second get `-2`, `-3`, … suffixes.
 */
export async function tagGreen(
  repoDir: string,
  options: TagGreenOptions,
): Promise<{ name: string; created: boolean }> {
  const tags = await listGreenTags(repoDir);
  const existing = tags.filter((tag) => tag.commit === options.commit).at(-1);
  if (existing) return { name: existing.name, created: false };
  // Names listed are not tried (a git process each); one taken since is.
  const taken = new Set(tags.map((tag) => tag.name));
  const base = greenTagName(options.at);
  for (let n = 1; ; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    if (taken.has(name)) continue;
    try {
      await createTag(repoDir, {
        name,
        commit: options.commit,
        message: options.message,
        author: options.author,
      });
      return { name, created: true };
    } catch (error) {
      if (!isGitSwarmError(error, 'already_exists') || n >= 100) throw error;
    }
  }
}
