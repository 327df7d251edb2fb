/**
 * The repository's git config as a stabilize run sees it: only the settings git needs to read the
 * repository (its format, object format, line endings). The real `.git/config` may hold secrets a
 * test must not read: a remote URL with a token, `http.extraheader` (CI checkouts store their
 * token there), credential and ssh settings.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git } from './git.js';

/** Config keys shown to the run (lower-case, as `git config --list` prints them). */
const KEPT = [
  /^core\.(repositoryformatversion|bare|filemode|symlinks|ignorecase|precomposeunicode|logallrefupdates|autocrlf|eol|safecrlf|checkstat|trustctime)$/,
  /^extensions\.[a-z]+$/,
];

/**
 * Writes the kept settings of `<commonDir>/config` to a new file in `dir` and returns its path, to
 * be mounted over the real one inside the sandbox.
 */
export async function writeSandboxGitConfig(commonDir: string, dir: string): Promise<string> {
  const path = join(dir, 'sandbox-git-config');
  writeFileSync(path, '');
  const listed = await git(['config', '--file', join(commonDir, 'config'), '--null', '--list'], {
    cwd: dir,
    okExitCodes: [1],
  });
  for (const entry of listed.stdout.split('\0')) {
    const newline = entry.indexOf('\n');
    if (newline <= 0) continue;
    const key = entry.slice(0, newline);
    if (!KEPT.some((pattern) => pattern.test(key))) continue;
    await git(['config', '--file', path, '--add', key, entry.slice(newline + 1)], { cwd: dir });
  }
  return path;
}
