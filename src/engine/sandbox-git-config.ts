/**
 * The repository's git config as a stabilize run sees it: only the settings git needs to read the
 * repository (its format, object format, line endings). The real `.git/config` may hold secrets a
 * test must not read: a remote URL with a token, `http.extraheader` (CI checkouts store their
 * token there), credential and ssh settings.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git } from './git.js';

/**
 * Config keys shown to the run (lower-case, as `git config --list` prints them). Each is
 * `<section>.<name>` of letters only, no subsection: `configText` relies on it.
 */
const KEPT = [
  /^core\.(repositoryformatversion|bare|filemode|symlinks|ignorecase|precomposeunicode|logallrefupdates|autocrlf|eol|safecrlf|checkstat|trustctime)$/,
  /^extensions\.[a-z]+$/,
];

/**
 * Writes the kept settings of `<commonDir>/config` to a new file in `dir` and returns its path, to
 * be mounted over the real one inside the sandbox. git lists the settings (it knows includes and
 * quoting); the file is written here, as one git process per setting cost ~10 ms each run.
 */
export async function writeSandboxGitConfig(commonDir: string, dir: string): Promise<string> {
  const path = join(dir, 'sandbox-git-config');
  const listed = await git(['config', '--file', join(commonDir, 'config'), '--null', '--list'], {
    cwd: dir,
    okExitCodes: [1],
  });
  const kept: Array<[key: string, value: string | null]> = [];
  for (const entry of listed.stdout.split('\0')) {
    const newline = entry.indexOf('\n');
    // A key with no `=` (an implicit true) is listed without a newline.
    const key = newline < 0 ? entry : entry.slice(0, newline);
    if (KEPT.some((pattern) => pattern.test(key)))
      kept.push([key, newline < 0 ? null : entry.slice(newline + 1)]);
  }
  writeFileSync(path, configText(kept));
  return path;
}

/** A git config file of `entries` in their order; a section header wherever the section changes. */
function configText(entries: Array<[key: string, value: string | null]>): string {
  let text = '';
  let section = '';
  for (const [key, value] of entries) {
    const dot = key.indexOf('.');
    if (key.slice(0, dot) !== section) {
      section = key.slice(0, dot);
      text += `[${section}]\n`;
    }
    text += value === null ? `\t${key.slice(dot + 1)}\n` : `\t${key.slice(dot + 1)} = ${quoteValue(value)}\n`;
  }
  return text;
}

/** A value in double quotes, with the escapes git's config reader knows. */
function quoteValue(value: string): string {
  const escaped = value.replace(
    /[\\"\n\t\b]/g,
    (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t', '\b': '\\b' })[c] as string,
  );
  return `"${escaped}"`;
}
