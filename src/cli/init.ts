/**
 * `gitswarm init`: sets up `.gitswarm/` (config and store) in an existing git repository, records
 * the repository and creates the buffer branch from main, recording its starting commit as the
 * baseline of bisection. Everything is validated before anything
 * is written; a second run changes nothing and says so.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createLocalEventBus } from '../core/activity/events.js';
import type { CoreDeps } from '../core/deps.js';
import { parseRepoSettings } from '../core/repos/repo-settings.js';
import { createRepo } from '../core/repos/repos.js';
import { recordBufferBaseline } from '../core/stabilization/bisect-range.js';
import { git, gitOut } from '../engine/git.js';
import { assertValidBranch, assertValidName } from '../engine/names.js';
import { OpLog } from '../engine/oplog.js';
import { findGitRepo, type GitRepo, readRef } from '../engine/repo.js';
import { createBranchAt } from '../engine/stream-branches.js';
import { GitSwarmError } from '../errors.js';
import type { Repo } from '../store/index.js';
import { type Clock, systemClock } from '../util/clock.js';
import {
  assertValidRemoteName,
  GITSWARM_DIR,
  type GitSwarmConfig,
  normalizeServerUrl,
  readConfigFile,
  recordableDatabase,
  resolveStoreLocation,
  type ServerConfig,
  writeConfigFile,
} from './config-file.js';
import { borrowCliStore } from './context.js';
import type { CliIO } from './io.js';
import { fields, type Style } from './output.js';

export interface InitOptions {
  name?: string;
  model?: string;
  mode?: string;
  buffer?: string;
  main?: string;
  stabilizeCmd?: string;
  threshold?: string;
  minReviews?: string;
  /** Mode B: the server to connect to (`--server`, else GITSWARM_SERVER). */
  server?: string;
  /** Mode B: join this server repository (id or name) instead of creating one at the first register. */
  repo?: string;
  /** Mode B: the git remote the clones share (default origin). */
  remote?: string;
  /** Mode B: the key for reading a private `--repo`. */
  apiKey?: string;
}

export interface InitDeps {
  io: CliIO;
  clock?: Clock;
}

/** The repository as `init --json` prints it. */
export interface InitRepoView {
  id: string;
  name: string;
  path: string | null;
  merge_mode: Repo['merge_mode'];
  ownership_model: Repo['ownership_model'];
  buffer_branch: string;
  /** The buffer's starting commit: red runs bisect GitSwarm's merges after it. */
  buffer_baseline: string | null;
  promote_target: string;
  consensus_threshold: number;
  min_reviews: number;
  stabilize_command: string | null;
}

export interface InitResult {
  repo: InitRepoView;
  /** False when the repository was already initialized (nothing changed). */
  created: boolean;
  buffer_head: string | null;
  store: string;
  /** Present on a connected clone; `repo_id` is null until the first agent register creates it. */
  server?: { url: string; repo_id: string | null; remote: string };
}

// `.gitswarm-server/` is where `gitswarm serve` keeps its data when started in the checkout.
const EXCLUDES = [`/${GITSWARM_DIR}/`, '/.worktrees/', '/.gitswarm-server/'];

function toView(repo: Repo): InitRepoView {
  return {
    id: repo.id,
    name: repo.name,
    path: repo.path,
    merge_mode: repo.merge_mode,
    ownership_model: repo.ownership_model,
    buffer_branch: repo.buffer_branch,
    buffer_baseline: repo.buffer_baseline,
    promote_target: repo.promote_target,
    consensus_threshold: repo.consensus_threshold,
    min_reviews: repo.min_reviews,
    stabilize_command: repo.stabilize_command,
  };
}

/** A default repository name from the directory name, made valid. */
function defaultName(root: string): string {
  const cleaned = basename(root)
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[.-]+$/, '')
    .slice(0, 100);
  return cleaned || 'repo';
}

/** The settings given on the command line, validated (throws before anything is written). */
function settingsFromOptions(opts: InitOptions): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  if (opts.model !== undefined) changes.ownership_model = opts.model;
  if (opts.mode !== undefined) changes.merge_mode = opts.mode;
  if (opts.buffer !== undefined) changes.buffer_branch = assertValidBranch(opts.buffer);
  if (opts.main !== undefined) changes.promote_target = assertValidBranch(opts.main);
  if (opts.stabilizeCmd !== undefined) changes.stabilize_command = opts.stabilizeCmd;
  if (opts.threshold !== undefined) changes.consensus_threshold = opts.threshold;
  if (opts.minReviews !== undefined) changes.min_reviews = opts.minReviews;
  return parseRepoSettings(changes) as Record<string, unknown>;
}

/** The commit a full ref names, or null. */
async function resolveRef(root: string, ref: string): Promise<string | null> {
  const result = await git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], {
    cwd: root,
    okExitCodes: [1],
  });
  return result.exitCode === 0 ? result.stdout.trim() : null;
}

async function resolveBranch(root: string, branch: string): Promise<string | null> {
  const result = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], {
    cwd: root,
    okExitCodes: [1],
  });
  return result.exitCode === 0 ? result.stdout.trim() : null;
}

/** The commits of the named branches that exist (one git call); a branch on a non-commit counts as missing. */
async function resolveBranches(root: string, branches: readonly string[]): Promise<Map<string, string>> {
  const wanted = new Set(branches.map((branch) => `refs/heads/${assertValidBranch(branch)}`));
  const out = await gitOut(
    ['for-each-ref', '--format=%(refname)%00%(objecttype)%00%(objectname)', ...wanted],
    {
      cwd: root,
    },
  );
  const heads = new Map<string, string>();
  for (const line of out === '' ? [] : out.split('\n')) {
    const [ref = '', type = '', oid = ''] = line.split('\0');
    // for-each-ref matches by prefix (refs/heads/main also matches refs/heads/main/x): keep exact names.
    if (wanted.has(ref) && type === 'commit') heads.set(ref.slice('refs/heads/'.length), oid);
  }
  return heads;
}

/** The branch to promote to: `--main`, else `main` when it exists, else the checked-out branch. */
async function choosePromoteTarget(
  location: GitRepo,
  requested: string | undefined,
  known: ReadonlyMap<string, string>,
): Promise<string> {
  if (requested) return requested;
  if (known.has('main')) return 'main';
  const head = await git(['symbolic-ref', '--quiet', '--short', 'HEAD'], {
    cwd: location.root,
    okExitCodes: [1],
  });
  const current = head.stdout.trim();
  return head.exitCode === 0 && current ? current : 'main';
}

/** Adds the GitSwarm folders to `.git/info/exclude` (once). */
function excludeGitSwarmFolders(commonDir: string): void {
  const infoDir = join(commonDir, 'info');
  const file = join(infoDir, 'exclude');
  let existing = '';
  try {
    existing = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const lines = new Set(existing.split('\n').map((line) => line.trim()));
  const missing = EXCLUDES.filter((entry) => !lines.has(entry));
  if (missing.length === 0) return;
  mkdirSync(infoDir, { recursive: true });
  const prefix = existing === '' || existing.endsWith('\n') ? '' : '\n';
  appendFileSync(file, `${prefix}# gitswarm\n${missing.join('\n')}\n`);
}

/** Creates the buffer branch at `at` through the operation log, unless it exists. */
async function ensureBufferBranch(
  core: CoreDeps,
  repo: Repo,
  at: string,
  known: ReadonlyMap<string, string>,
): Promise<string> {
  const root = repo.path as string;
  const existing = known.get(repo.buffer_branch) ?? (await resolveBranch(root, repo.buffer_branch));
  if (existing) return existing;
  const oplog = new OpLog(core.store, repo.id, core.clock);
  const opId = await createBranchAt(root, { branch: repo.buffer_branch, at, oplog });
  await oplog.complete(opId);
  return at;
}

/** The connection `init` makes: checked against the server before anything is written. */
interface PlannedServer {
  server: ServerConfig;
  /** The server repository `--repo` named (its branches are the clone's). */
  joined?: { buffer_branch: string; promote_target: string; name: string };
}

/** `--server` / GITSWARM_SERVER, `--repo`, `--remote`: validated, and checked on the server. */
async function planServer(
  opts: InitOptions,
  io: CliIO,
  root: string,
  config: GitSwarmConfig | null,
): Promise<PlannedServer | undefined> {
  const named = opts.server || io.env.GITSWARM_SERVER || undefined;
  if (!named) {
    if (opts.repo !== undefined || opts.remote !== undefined) {
      throw new GitSwarmError('usage', '--repo and --remote connect a clone to a server: add --server URL.');
    }
    return undefined;
  }
  const url = normalizeServerUrl(named);
  const remote = assertValidRemoteName(opts.remote ?? config?.server?.remote ?? 'origin');
  if (config && !config.server) {
    throw new GitSwarmError(
      'invalid_state',
      `${root} is already initialized as a local (Mode A) repository.`,
      {
        hint: `Move its state to the server with: gitswarm sync --server ${url}`,
      },
    );
  }
  if (config?.server) {
    const same =
      config.server.url === url && (opts.repo === undefined || opts.repo === config.server.repo_id);
    if (!same || (opts.remote !== undefined && opts.remote !== config.server.remote)) {
      throw new GitSwarmError(
        'invalid_state',
        `This clone is already connected to ${config.server.url}${config.server.repo_id ? ` (repository ${config.server.repo_id})` : ''}.`,
        { hint: 'Edit "server" in .gitswarm/config.json to connect it elsewhere, or clone again.' },
      );
    }
    return { server: config.server };
  }
  const { assertGitRemote, findServerRepo } = await import('../remote/connect.js');
  const { newClient } = await import('../remote/connection.js');
  await assertGitRemote(root, remote);
  const client = newClient(url, {
    env: io.env,
    signal: io.signal,
    apiKey: opts.apiKey || io.env.GITSWARM_API_KEY || undefined,
  });
  await client.connect();
  if (opts.repo === undefined) return { server: { url, remote } };
  const repo = await findServerRepo(client, opts.repo);
  return {
    server: { url, repo_id: repo.id, remote },
    joined: { buffer_branch: repo.buffer_branch, promote_target: repo.promote_target, name: repo.name },
  };
}

function serverView(server: ServerConfig | undefined): InitResult['server'] {
  return server ? { url: server.url, repo_id: server.repo_id ?? null, remote: server.remote } : undefined;
}

/** Initializes GitSwarm in the repository around `io.cwd`. */
export async function runInit(opts: InitOptions, deps: InitDeps): Promise<InitResult> {
  const { io } = deps;
  const location = await findGitRepo(io.cwd);
  const { root } = location;
  const config = readConfigFile(root);
  const planned = await planServer(opts, io, root, config);
  if (planned?.joined) {
    // A clone joining a server repository takes its branches from the server.
    opts = { ...opts, buffer: planned.joined.buffer_branch, main: planned.joined.promote_target };
    if (opts.name === undefined) opts.name = planned.joined.name;
  }
  const name = opts.name === undefined ? defaultName(root) : assertValidName('repository', opts.name);
  const settings = settingsFromOptions(opts);
  const storeLocation = resolveStoreLocation(root, config, io.env);

  if (config) {
    const { store, release } = await borrowCliStore(storeLocation);
    try {
      const repo = await store.db
        .selectFrom('gitswarm_repos')
        .selectAll()
        .where('id', '=', config.repo_id)
        .executeTakeFirst();
      if (repo) {
        excludeGitSwarmFolders(location.commonDir);
        const server = serverView(config.server);
        return {
          repo: toView(repo),
          created: false,
          // Read from its ref file where it is one: `init` again in a set-up repository starts no git.
          buffer_head: await readRef(root, `refs/heads/${repo.buffer_branch}`),
          store: storeLocation,
          ...(server ? { server } : {}),
        };
      }
    } finally {
      await release();
    }
  }

  const bufferBranch = (settings.buffer_branch as string | undefined) ?? 'buffer';
  const known = await resolveBranches(root, ['main', bufferBranch, ...(opts.main ? [opts.main] : [])]);
  const promoteTarget = await choosePromoteTarget(location, opts.main, known);
  if (bufferBranch === promoteTarget) {
    throw new GitSwarmError(
      'invalid_input',
      `The buffer branch and the promote target are both ${promoteTarget}.`,
      {
        hint: 'Choose another one with --buffer BRANCH.',
      },
    );
  }
  const mainHead = known.get(promoteTarget) ?? (await resolveBranch(root, promoteTarget));
  if (!mainHead) {
    const anyCommit = await git(['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], {
      cwd: root,
      okExitCodes: [1],
    });
    throw anyCommit.exitCode === 0
      ? new GitSwarmError('invalid_input', `Branch ${promoteTarget} does not exist in ${root}`, {
          hint: 'Name the branch to promote to with --main BRANCH.',
        })
      : new GitSwarmError('invalid_state', `The repository ${root} has no commits yet.`, {
          hint: 'Make a first commit (git commit --allow-empty -m "initial"), then run: gitswarm init',
        });
  }

  mkdirSync(join(root, GITSWARM_DIR), { recursive: true });
  excludeGitSwarmFolders(location.commonDir);
  const { store, release } = await borrowCliStore(storeLocation);
  let repo: Repo;
  let bufferHead: string;
  try {
    const core: CoreDeps = { store, clock: deps.clock ?? systemClock, events: createLocalEventBus() };
    // A previous run may have recorded the repository and stopped before writing the config.
    const previous = await store.db
      .selectFrom('gitswarm_repos')
      .selectAll()
      .where('path', '=', root)
      .where('status', '=', 'active')
      .executeTakeFirst();
    repo =
      previous ??
      (await createRepo(core, {
        name,
        path: root,
        settings: { ...settings, buffer_branch: bufferBranch, promote_target: promoteTarget },
      }));
    // A clone joining a server repository starts its buffer where the shared remote's is, when
    // the clone has it (a fresh clone does); else from main, as every clone does.
    const sharedBuffer = planned?.joined
      ? await resolveRef(root, `refs/remotes/${planned.server.remote}/${repo.buffer_branch}`)
      : null;
    bufferHead = await ensureBufferBranch(core, repo, sharedBuffer ?? mainHead, known);
    // Where the buffer starts: red runs bisect GitSwarm's merges after it, never the project's past.
    await recordBufferBaseline(core, repo, bufferHead);
    repo = { ...repo, buffer_baseline: repo.buffer_baseline ?? bufferHead };
  } finally {
    await release();
  }
  const namedDatabase = recordableDatabase(root, io.env.GITSWARM_DB || io.env.DATABASE_URL);
  writeConfigFile(root, {
    repo_id: repo.id,
    ...(namedDatabase ? { database: namedDatabase } : {}),
    ...(planned ? { server: planned.server } : {}),
  });
  const server = serverView(planned?.server);
  return {
    repo: toView(repo),
    created: true,
    buffer_head: bufferHead,
    store: storeLocation,
    ...(server ? { server } : {}),
  };
}

export function formatInit(result: InitResult, style: Style): string {
  const { repo } = result;
  const head = result.created
    ? `Initialized GitSwarm in ${repo.path}`
    : `GitSwarm is already initialized in ${repo.path}; nothing changed.\nChange settings with: gitswarm config KEY VALUE --as <admin>`;
  return [
    head,
    fields([
      [style.dim('repo'), `${repo.name} (${repo.id})`],
      [style.dim('mode'), `${repo.merge_mode}, ${repo.ownership_model} ownership`],
      [style.dim('buffer'), `${repo.buffer_branch} → ${repo.promote_target}`],
      ...(result.server
        ? ([
            [style.dim('server'), result.server.url],
            [style.dim('server repo'), result.server.repo_id ?? 'created by the first agent register'],
            [style.dim('git remote'), result.server.remote],
          ] as const)
        : []),
    ]),
    ...(result.created
      ? [
          result.server && !result.server.repo_id
            ? 'Next: gitswarm agent register NAME (creates the repository on the server; you become its owner)'
            : 'Next: gitswarm agent register NAME',
        ]
      : []),
  ].join('\n');
}
