/**
 * A fingerprint of a branch's own change: the stable patch-id of `git diff base...head` (the
 * diff from the merge base). A rebase onto a moved base, or a merge of the base into the branch,
 * leaves it unchanged as long as the change itself is the same; line numbers and the order of
 * files do not count (`git patch-id --stable`).
 */
import { gitPipe } from './git.js';
import { assertRevision } from './names.js';

/** The fingerprint of a change that changes nothing (patch-id prints nothing for an empty diff). */
export const EMPTY_DIFF_FINGERPRINT = 'empty';

// The same diff whatever the user's configuration: no external drivers or textconv (they run
// commands from repository config), no colour, fixed prefixes, renames and algorithm; full index
// lines, which patch-id hashes for binary files.
const STABLE_DIFF = [
  'diff',
  '--no-color',
  '--no-ext-diff',
  '--no-textconv',
  '--no-renames',
  '--diff-algorithm=myers',
  '--src-prefix=a/',
  '--dst-prefix=b/',
  '--full-index',
];

/** The patch-id of `head`'s change since its merge base with `base` (a branch or a commit). */
export async function diffFingerprint(repoDir: string, base: string, head: string): Promise<string> {
  assertRevision(base);
  assertRevision(head);
  const result = await gitPipe([...STABLE_DIFF, `${base}...${head}`, '--'], ['patch-id', '--stable'], {
    cwd: repoDir,
  });
  const id = result.stdout.trim().split(/\s+/)[0];
  return id ? id : EMPTY_DIFF_FINGERPRINT;
}
