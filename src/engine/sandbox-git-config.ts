/**
 * The repository's git config as a stabilize run sees it: only the settings git needs to read the
 * repository (its format, object format, line endings). The real `.git/config` may hold secrets a
 * test must not read: a remote URL with a token, `http.extraheader` (CI checkouts store their
 * token there), credential and ssh settings.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git } from './git.js';

/**
 * Config keys shown to the run (lower-case, as `git config --list` prints them). Each is
 * `<section>.<name>` of letters only, no subsection: the file is written from the key as it is.
 */
const KEPT = [
  /^core\.(repositoryformatversion|bare|filemode|symlinks|ignorecase|precomposeunicode|logallrefupdates|autocrlf|eol|safecrlf|checkstat|trustctime)$/,
  /^extensions\.[a-z]+$/,
];

/**
 * The kept settings of `<commonDir>/config` as a config file's text. git lists the settings (it
 * knows includes and quoting); the text is written here, since a git process per setting cost
 * about 10 ms each.
 */
export async function sandboxGitConfigText(commonDir: string): Promise<string> {
  const listed = await git(['config', '--file', join(commonDir, 'config'), '--null', '--list'], {
    cwd: tmpdir(),
    okExitCodes: [1],
  });
  let text = '';
  for (const entry of listed.stdout.split('\0')) {
    // `key\nvalue`; a key with no `=` (an implicit true) is listed alone.
    const newline = entry.indexOf('\n');
    const key = newline === -1 ? entry : entry.slice(0, newline);
    if (!KEPT.some((pattern) => pattern.test(key))) continue;
    const [section, name] = key.split('.') as [string, string];
    const value = newline === -1 ? '' : ` = ${quoteValue(entry.slice(newline + 1))}`;
    // A header for each setting keeps their order; git reads repeated sections as one.
    text += `[${section}]\n\t${name}${value}\n`;
  }
  return text;
}

/**
 * Writes a sandbox config's text to `<dir>/sandbox-git-config` and returns its path, to be mounted
 * over the real config inside the sandbox.
 */
export function writeSandboxGitConfig(text: string, dir: string): string {
  const path = join(dir, 'sandbox-git-config');
  writeFileSync(path, text);
  return path;
}

/** A value in double quotes, with the escapes git's config reader knows. */
function quoteValue(value: string): string {
  const escaped = value.replace(
    /[\\"\n\t\b]/g,
    (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t', '\b': '\\b' })[c] as string,
  );
  return `"${escaped}"`;
}
