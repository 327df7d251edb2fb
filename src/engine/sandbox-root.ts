/**
 * The sandbox's file system, built from an empty root: only what a test run needs is mounted.
 *  - the system's runtime read-only: `/usr`, `/bin`, `/sbin`, `/lib*` (a symlink on the host, as in
 *    merged-/usr systems, is recreated as the same symlink);
 *  - `/etc` read-only, with its secrets covered: every file or folder that is not world-readable
 *    (`shadow`, `gshadow`, `sudoers`, ssh host keys, TLS private keys, database configs) and the
 *    names below whatever their mode;
 *  - the toolchain found on PATH outside those (Node under `/tmp` or in the home, `/opt/...`),
 *    read-only, each entry widened from `…/bin` to its installation prefix;
 *  - a fresh `/tmp`, `/var/tmp` and home, a minimal `/dev`, its own `/proc`.
 * Nothing else exists inside: no `/run`, `/var/run`, `/home`, `/root`, `/srv`, `/sys`, no other
 * checkout, so no host Unix socket can be reached by path.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { commandEnv } from '../util/command-env.js';

/** System folders shown read-only (or as the host's symlink) when they exist on the host. */
export const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'] as const;

/** Covered in `/etc` whatever their mode (relative to `/etc`; a trailing `*` matches a prefix). */
const ETC_SECRETS = [
  'shadow',
  'shadow-',
  'gshadow',
  'gshadow-',
  'sudoers',
  'sudoers.d',
  'ssh/ssh_host_*',
  'ssl/private',
];

/** The home the command sees: an empty folder on the sandbox's own /tmp. */
export const SANDBOX_HOME = '/tmp/home';

/** Bubblewrap arguments for the system part of the empty root (order matters: later mounts cover earlier ones). */
export function systemRootArgs(): string[] {
  const args: string[] = [];
  for (const dir of SYSTEM_DIRS) {
    const stats = lstatOrNull(dir);
    if (!stats) continue;
    if (stats.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
    else if (stats.isDirectory()) args.push('--ro-bind', dir, dir);
  }
  args.push(
    '--ro-bind',
    '/etc',
    '/etc',
    ...coverArgs(privateEntries('/etc', { maxDepth: 8, named: ETC_SECRETS })),
  );
  args.push(
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--tmpfs',
    '/tmp',
    '--tmpfs',
    '/var/tmp',
    '--dir',
    SANDBOX_HOME,
  );
  return args;
}

interface Secret {
  path: string;
  isDirectory: boolean;
}

/** Arguments that cover each entry: a folder becomes an empty tmpfs, a file cannot be opened (/dev/null on a nodev mount). */
export function coverArgs(secrets: readonly Secret[]): string[] {
  return secrets.flatMap((secret) =>
    secret.isDirectory
      ? ['--tmpfs', secret.path, '--remount-ro', secret.path]
      : ['--ro-bind', '/dev/null', secret.path],
  );
}

/**
 * The entries under `dir` a sandbox must not show: anything not readable by every user (the
 * command may run as the same user as the owner, root included, so the mode alone would not stop
 * it), down to `maxDepth` levels (a hidden folder is covered whole, its contents are not visited),
 * and the `named` ones (relative paths; a trailing `*` matches a prefix) whatever their mode.
 */
export function privateEntries(
  dir: string,
  options: { maxDepth: number; named?: readonly string[] },
): Secret[] {
  const found: Secret[] = [];
  const named = (rel: string) =>
    (options.named ?? []).some((pattern) =>
      pattern.endsWith('*') ? rel.startsWith(pattern.slice(0, -1)) : rel === pattern,
    );
  const visit = (current: string, depth: number) => {
    let entries: string[];
    try {
      entries = readdirSync(current);
    } catch {
      return;
    }
    for (const name of entries) {
      const path = join(current, name);
      const stats = lstatOrNull(path);
      if (!stats || stats.isSymbolicLink()) continue;
      const isDirectory = stats.isDirectory();
      const worldReadable = (stats.mode & 0o004) !== 0 && (!isDirectory || (stats.mode & 0o001) !== 0);
      if (!worldReadable || named(relative(dir, path))) {
        found.push({ path, isDirectory });
        continue;
      }
      if (isDirectory && depth < options.maxDepth) visit(path, depth + 1);
    }
  };
  visit(dir, 1);
  return found;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * The PATH entries not already visible through the system folders, each widened from `…/bin` to
 * its installation prefix (where `bin/npm` finds `lib/`). An entry is never widened to a
 * top-level folder, to a home (`/home/<user>`, the caller's `$HOME`) or to a folder in
 * `neverWiden`; an entry that is such a folder itself is left out, and so is any entry that
 * overlaps a `forbidden` path (contains it or lies inside it: the repository's own checkout, with
 * its store and the agents' worktrees, is never shown this way).
 */
export function toolchainPrefixes(
  searchPath: string,
  options: { neverWiden?: readonly string[]; forbidden?: readonly string[] } = {},
): string[] {
  const { HOME } = commandEnv();
  const home = HOME && isAbsolute(HOME) ? resolve(HOME) : undefined;
  const notAPrefix = (dir: string) =>
    dir.split('/').filter(Boolean).length <= 1 ||
    dirname(dir) === '/home' ||
    dir === home ||
    (options.neverWiden ?? []).some((hidden) => resolve(hidden) === dir);
  const prefixes = new Set<string>();
  for (const entry of searchPath.split(':')) {
    if (!isAbsolute(entry)) continue;
    const path = resolve(entry);
    if (SYSTEM_DIRS.some((dir) => isInside(path, dir))) continue;
    if (notAPrefix(path)) continue;
    const parent = dirname(path);
    const prefix = basename(path) === 'bin' && !notAPrefix(parent) ? parent : path;
    const overlaps = (options.forbidden ?? []).some(
      (forbidden) => isInside(prefix, resolve(forbidden)) || isInside(resolve(forbidden), prefix),
    );
    if (!overlaps) prefixes.add(prefix);
  }
  return [...prefixes];
}
