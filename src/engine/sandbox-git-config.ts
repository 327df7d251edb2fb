/**
 * The repository's git config as a stabilize run sees it: only the settings git needs to read the
 * repository (its format, object format, line endings). The real `.git/config` may hold secrets a
 * test must not read: a remote URL with a token, `http.extraheader` (CI checkouts store their
 * token there), credential and ssh settings.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
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

/** Config files whose kept settings are remembered, at most (a server holds many repositories). */
export const REMEMBERED_CONFIGS = 100;

/** The kept settings of each config file listed, with a digest of the file git listed. */
const remembered = new Map<string, { digest: string; text: string }>();

/**
 * The kept settings of `<commonDir>/config` as a config file's text. git lists the settings (it
 * knows quoting; with `--file` it follows no include, so the text depends on the file alone); the
 * text is written here, since a git process per setting cost about 10 ms each. A long-lived process
 * (the command server, the HTTP server) lists a file again only when its content changed.
 */
export async function sandboxGitConfigText(commonDir: string): Promise<string> {
  const file = join(commonDir, 'config');
  const before = digestOf(file);
  const known = remembered.get(file);
  if (known?.digest === before) return known.text;
  const listed = await git(['config', '--file', file, '--null', '--list'], {
    cwd: tmpdir(),
    okExitCodes: [1],
  });
  const text = keptSettings(listed.stdout);
  // Only a file that did not change while git read it: the text must be of the content it is kept for.
  if (before !== null && digestOf(file) === before) {
    // The first remembered makes room: a cache, so the oldest entry is as good as any.
    if (!remembered.has(file) && remembered.size >= REMEMBERED_CONFIGS) {
      remembered.delete(remembered.keys().next().value as string);
    }
    remembered.set(file, { digest: before, text });
  }
  return text;
}

/** `git config --null --list` output's kept settings, as a config file's text. */
function keptSettings(listing: string): string {
  let text = '';
  for (const entry of listing.split('\0')) {
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

/** A digest of the file's bytes; null when it cannot be read (git then says why). */
function digestOf(file: string): string | null {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return null;
  }
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
