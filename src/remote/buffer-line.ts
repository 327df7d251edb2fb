/**
 * The buffer's first-parent line as a connected clone reads it from git alone (it has no merge
 * records): GitSwarm's merges carry a `Stream: <id>` trailer (two parents), its reverts say
 * `This reverts merge <sha>.` Bisection in Mode B searches these merges, as Mode A searches the
 * merges its store recorded; the server then judges the evidence (remote-sync's judgeCulprit).
 */

import { gitOut } from '../engine/git.js';
import { findLastGreen, type GreenTag } from '../engine/green-tags.js';
import { assertRevision } from '../engine/names.js';

export interface LineCommit {
  commit: string;
  /** The stream a GitSwarm merge merged (its `Stream:` trailer), else null. */
  stream: string | null;
  /** The merge a GitSwarm revert undid, else null. */
  reverts: string | null;
}

/** The first-parent line of `to` after `from` (exclusive; null = all), oldest first. */
export async function readBufferLine(root: string, from: string | null, to: string): Promise<LineCommit[]> {
  assertRevision(to);
  if (from !== null) assertRevision(from);
  const range = from === null ? [to] : [to, `^${from}`];
  const out = await gitOut(
    ['log', '--first-parent', '--reverse', '--format=%H %P%x00%B%x1e', ...range, '--'],
    { cwd: root },
  );
  const commits: LineCommit[] = [];
  for (const record of out.split('\x1e')) {
    const [head, body = ''] = record.replace(/^\n/, '').split('\0');
    if (!head) continue;
    const [commit, ...parents] = head.trim().split(' ');
    if (!commit) continue;
    const stream = parents.length === 2 ? (/^Stream: (\S+)$/m.exec(body)?.[1] ?? null) : null;
    const reverts =
      parents.length === 1 ? (/^This reverts merge ([0-9a-f]{40,64})\.$/m.exec(body)?.[1] ?? null) : null;
    commits.push({ commit, stream, reverts });
  }
  return commits;
}

export interface RemoteBisectStart {
  /** The commit just before the range: known (green) or taken (first merge's parent, a revert) to pass. */
  commit: string | null;
  kind: 'green' | 'first_merge' | 'revert' | 'none';
  green: GreenTag | null;
}

/**
 * The range a red `head` bisects (as core/stabilization/bisect-range.ts for Mode A): GitSwarm's merges since
 * the last green tag on the line, else since the first GitSwarm merge's parent; starting after
 * the newest GitSwarm revert in it, since a reverted merge would take the blame again.
 */
export async function findRemoteBisectRange(
  root: string,
  head: string,
): Promise<{ start: RemoteBisectStart; candidates: LineCommit[] }> {
  const green = await findLastGreen(root, head);
  let start: RemoteBisectStart;
  let line: LineCommit[];
  if (green) {
    start = { commit: green.commit, kind: 'green', green };
    line = await readBufferLine(root, green.commit, head);
  } else {
    const all = await readBufferLine(root, null, head);
    const first = all.findIndex((c) => c.stream !== null);
    if (first <= 0) return { start: { commit: head, kind: 'none', green: null }, candidates: [] };
    start = { commit: all[first - 1]?.commit ?? null, kind: 'first_merge', green: null };
    line = all.slice(first);
  }
  // The newest revert before the head starts the range (the head itself is what is tested).
  const revertAt = line.slice(0, -1).findLastIndex((c) => c.reverts !== null);
  if (revertAt >= 0) {
    start = { commit: line[revertAt]?.commit ?? null, kind: 'revert', green: start.green };
    line = line.slice(revertAt + 1);
  }
  return { start, candidates: line.filter((c) => c.stream !== null) };
}

/** The GitSwarm revert of `merge` on the line from `from` (exclusive) to `to`, if one is there. */
export async function findRevertOf(
  root: string,
  merge: string,
  from: string,
  to: string,
): Promise<string | null> {
  if (from === to) return null;
  const line = await readBufferLine(root, from, to);
  return line.find((c) => c.reverts === merge)?.commit ?? null;
}
