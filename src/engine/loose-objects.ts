/**
 * Loose objects the engine reads and writes itself, where a git process (about 10 ms each on a
 * small machine, where starting a process is dear) would do little: a commit's tree read from its
 * object file, commit objects written byte for byte as `git commit-tree` writes them for the same
 * parts at the same second, and the empty tree. Wherever git's own settings could make its object
 * differ, or be stored differently, git is asked instead.
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { commandEnv } from '../util/command-env.js';
import type { GitIdentity } from './author.js';
import { git, gitOut } from './git.js';
import { assertRevision, isObjectId } from './names.js';

export interface NewCommit {
  tree: string;
  parents: readonly string[];
  author: GitIdentity;
  committer: GitIdentity;
  /** The whole message as stored (normalized by the caller: git adds nothing). */
  message: string;
}

/**
 * Environment variables that change what git would write or where: a fixed date, another object
 * store, another repository, settings given on the command line.
 */
const GIT_DECIDES_ENV = [
  'GIT_AUTHOR_DATE',
  'GIT_COMMITTER_DATE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_DIR',
  'GIT_COMMON_DIR',
  'GIT_CONFIG_PARAMETERS',
  'GIT_CONFIG_COUNT',
];

/**
 * Repository settings under which git's object or its file could differ: another hash, another
 * message encoding, group-shared file modes, included files (which may hold any of these).
 */
const GIT_DECIDES_CONFIG =
  /^\s*(objectformat|compatobjectformat|commitencoding|sharedrepository)\s*=|^\s*\[\s*include/im;

/** Characters git trims from both ends of a name or e-mail (its ident "crud"). */
const IDENT_CRUD = /^[\0- .,:;<>"\\']|[\0- .,:;<>"\\']$/;

/**
 * Writes `commit` as a loose object of the repository at `repoDir` (a checkout's root or a bare
 * repository) and returns its id, or null when git should write it (see above and
 * {@link writeLooseObject}).
 */
export async function writeCommitObject(
  repoDir: string,
  commit: NewCommit,
  now: Date = new Date(),
): Promise<string | null> {
  const body = commitBody(commit, now);
  return body === null ? null : writeLooseObject(repoDir, 'commit', body);
}

/** Writes the empty tree (in-process where it can, else with git) and returns its id. */
export async function writeEmptyTree(repoDir: string): Promise<string> {
  return (
    (await writeLooseObject(repoDir, 'tree', Buffer.alloc(0))) ??
    (await gitOut(['hash-object', '-t', 'tree', '-w', '--stdin'], { cwd: repoDir, input: '' }))
  );
}

/**
 * Writes an object of `type` with `body` as a loose object of the repository at `repoDir` and
 * returns its id, or null when git should write it (see above). The object is written to a
 * temporary file, flushed to disk, and linked into place, so a reader never sees half of it and a
 * crash leaves at most a `tmp_obj_` file, which `git gc` removes.
 */
export async function writeLooseObject(
  repoDir: string,
  type: 'commit' | 'tree',
  body: Buffer,
): Promise<string | null> {
  const env = commandEnv();
  if (GIT_DECIDES_ENV.some((name) => env[name] !== undefined)) return null;
  const gitDir = await plainGitDir(repoDir);
  if (gitDir === null) return null;
  const content = Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body]);
  const oid = createHash('sha1').update(content).digest('hex');
  const dir = join(gitDir, 'objects', oid.slice(0, 2));
  const path = join(dir, oid.slice(2));
  if (await exists(path)) {
    // Freshened as git does, so a `git gc` pruning old unreferenced objects leaves it alone.
    const seconds = Date.now() / 1000;
    await utimes(path, seconds, seconds).catch(() => {});
    return oid;
  }
  await mkdir(dir, { recursive: true });
  const temporary = join(dir, `tmp_obj_${randomBytes(6).toString('hex')}`);
  try {
    const file = await open(temporary, 'wx', 0o444);
    try {
      await file.writeFile(deflateSync(content, { level: 1 }));
      await file.sync();
    } finally {
      await file.close();
    }
    await link(temporary, path).catch((error: NodeJS.ErrnoException) => {
      // Written meanwhile by someone else: the same bytes, since the name is their hash.
      if (error.code !== 'EEXIST') throw error;
    });
  } finally {
    await unlink(temporary).catch(() => {});
  }
  return oid;
}

/**
 * The commit's text, or null where git would write other bytes than these (an ident that git
 * trims, a message with a NUL byte).
 */
export function commitBody(commit: NewCommit, now: Date): Buffer | null {
  const idents = [commit.author, commit.committer].flatMap((who) => [who.name, who.email]);
  if (idents.some((part) => IDENT_CRUD.test(part) || /[<>\n]/.test(part))) return null;
  if (commit.message.includes('\0')) return null;
  const date = gitDate(now);
  const lines = [
    `tree ${commit.tree}`,
    ...commit.parents.map((parent) => `parent ${parent}`),
    `author ${commit.author.name} <${commit.author.email}> ${date}`,
    `committer ${commit.committer.name} <${commit.committer.email}> ${date}`,
  ];
  return Buffer.from(`${lines.join('\n')}\n\n${commit.message}`);
}

/** A date as git records it: unix seconds and the local time zone's offset (`1700000000 +0100`). */
export function gitDate(now: Date): string {
  const offset = -now.getTimezoneOffset();
  const magnitude = Math.abs(offset);
  const hhmm = `${String(Math.floor(magnitude / 60)).padStart(2, '0')}${String(magnitude % 60).padStart(2, '0')}`;
  return `${Math.floor(now.getTime() / 1000)} ${offset < 0 ? '-' : '+'}${hhmm}`;
}

/**
 * The tree of `commit` (an object id): read from its loose object file where there is one, else
 * (packed, or another object store) from `git rev-parse`.
 */
export async function commitTreeOf(repoDir: string, commit: string): Promise<string> {
  assertRevision(commit);
  const object = await readLooseObject(repoDir, commit);
  const tree =
    object?.type === 'commit'
      ? /^tree ([0-9a-f]{40}|[0-9a-f]{64})\n/.exec(object.body.toString('latin1'))?.[1]
      : undefined;
  if (tree !== undefined) return tree;
  return gitOut(['rev-parse', '--verify', '--quiet', `${commit}^{tree}`], { cwd: repoDir });
}

/** Whether `oid` names a commit here: from its loose object where there is one, else from git. */
export async function hasCommit(repoDir: string, oid: string): Promise<boolean> {
  if (!isObjectId(oid)) return false;
  if ((await readLooseObject(repoDir, oid))?.type === 'commit') return true;
  const result = await git(['cat-file', '-e', `${oid}^{commit}`], { cwd: repoDir, okExitCodes: [1, 128] });
  return result.exitCode === 0;
}

/**
 * A commit's object text, byte for byte as `git cat-file commit` prints it: from its loose object
 * where there is one, else from git.
 */
export async function readCommitText(repoDir: string, commit: string): Promise<string> {
  assertRevision(commit);
  const object = await readLooseObject(repoDir, commit);
  if (object?.type === 'commit') return object.body.toString('utf8');
  return (await git(['cat-file', 'commit', commit], { cwd: repoDir })).stdout;
}

/**
 * An object read from its loose file in the repository's own object store: its type and content.
 * Null when there is no such file or git must be asked (packed, alternates, another object
 * store, a file git would not read either).
 */
export async function readLooseObject(
  repoDir: string,
  oid: string,
): Promise<{ type: string; body: Buffer } | null> {
  if (!isObjectId(oid)) return null;
  const env = commandEnv();
  const own = GIT_DECIDES_ENV.some((name) => env[name] !== undefined) ? null : await ownObjects(repoDir);
  if (own === null) return null;
  const compressed = await readFile(join(own.gitDir, 'objects', oid.slice(0, 2), oid.slice(2))).catch(
    () => null,
  );
  if (compressed === null) return null;
  const content = inflated(compressed);
  const header = /^(commit|tree|blob|tag) (\d+)\0/.exec(content.subarray(0, 32).toString('latin1'));
  if (!header) return null;
  const body = content.subarray((header[0] as string).length);
  return body.length === Number(header[2]) ? { type: header[1] as string, body } : null;
}

function inflated(compressed: Buffer): Buffer {
  try {
    return inflateSync(compressed);
  } catch {
    return Buffer.alloc(0); // not an object file git would read either: git decides
  }
}

/**
 * The git directory of `repoDir` (a checkout's root or a bare repository) when it holds its own
 * objects, with its config text; else null (a linked worktree, no repository).
 */
async function ownObjects(repoDir: string): Promise<{ gitDir: string; config: string } | null> {
  for (const gitDir of [join(repoDir, '.git'), repoDir]) {
    const config = await readFile(join(gitDir, 'config'), 'utf8').catch(() => null);
    if (config === null) continue;
    if (!(await isDirectory(join(gitDir, 'objects')))) return null;
    if (await exists(join(gitDir, 'commondir'))) return null; // a linked worktree's
    return { gitDir, config };
  }
  return null;
}

/** The git directory to write objects into, when its settings leave git's object as written here. */
async function plainGitDir(repoDir: string): Promise<string | null> {
  const own = await ownObjects(repoDir);
  return own === null || GIT_DECIDES_CONFIG.test(own.config) ? null : own.gitDir;
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isDirectory() ?? false;
}
