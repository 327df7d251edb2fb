/**
 * A fingerprint of a branch's own change: the stable patch-id of `git diff base...head` (the
 * diff from the merge base). A rebase onto a moved base, or a merge of the base into the branch,
 * leaves it unchanged as long as the change itself is the same; line numbers and the order of
 * files do not count (`git patch-id --stable`, computed here as the diff streams: one git process
 * instead of two).
 */
import { git } from './git.js';
import { assertRevision } from './names.js';
import { StablePatchId } from './stable-patch-id.js';

/** The fingerprint of a change that changes nothing (patch-id prints nothing for an empty diff). */
export const EMPTY_DIFF_FINGERPRINT = 'empty';

// The same diff whatever the user's configuration: no external drivers or textconv (they run
// commands from repository config), no colour, fixed prefixes, renames and algorithm; full index
// lines, which patch-id hashes for binary files.
export const STABLE_DIFF = [
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

/**
 * The patch-id of `head`'s change since its merge base with `base` (a branch or a commit). In a
 * SHA-256 repository `head` must be a commit id, whose length tells the hash.
 */
export async function diffFingerprint(repoDir: string, base: string, head: string): Promise<string> {
  assertRevision(base);
  assertRevision(head);
  const patchId = new StablePatchId(/^[0-9a-f]{64}$/.test(head) ? 'sha256' : 'sha1');
  await git([...STABLE_DIFF, `${base}...${head}`, '--'], {
    cwd: repoDir,
    onStdout: (chunk) => patchId.update(chunk),
  });
  return patchId.digest() ?? EMPTY_DIFF_FINGERPRINT;
}
