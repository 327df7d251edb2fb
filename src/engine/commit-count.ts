/**
 * How many commits `head` has that `base` lacks (`git rev-list --count base..head`). Commits are
 * named by their content, parents included, so a pair's count in a repository never changes: a
 * resident process (the command server, the HTTP server) remembers the answers it was given and
 * starts git only for a pair it has not counted. A `status` polled while nothing moves starts none.
 */
import { gitOut } from './git.js';

const REMEMBERED_PAIRS = 2048;
const remembered = new Map<string, number>();

/** The count of commits reachable from `head` and not from `base`, both object ids, in `root`. */
export async function countCommitsAhead(root: string, base: string, head: string): Promise<number> {
  if (base === head) return 0;
  const range = `${base}..${head}`;
  // The repository is part of the key: a shallow clone or replaced objects may see another history
  // (a shallow clone deepened later counts more than it did; a status shows the count it had).
  const key = `${root}\0${range}`;
  const known = remembered.get(key);
  if (known !== undefined) return known;
  const count = Number(await gitOut(['rev-list', '--count', range, '--'], { cwd: root }));
  if (remembered.size >= REMEMBERED_PAIRS) remembered.delete(remembered.keys().next().value as string);
  remembered.set(key, count);
  return count;
}
