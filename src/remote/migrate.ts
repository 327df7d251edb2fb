/**
 * Migration of a Mode A repository to a server (`gitswarm sync --server URL` on a Mode A clone):
 * the buffer, the promote target and open streams' branches are pushed to the shared remote
 * (migrate-git.ts), the local store is uploaded in batches through the server's import routes
 * (core/repos/import.ts) in dependency order, the server is told the buffer's head, and the clone is
 * connected (`server` in `.gitswarm/config.json`).
 *
 * Resumable and idempotent: every row keeps its Mode A id, so a batch the server already holds
 * changes nothing; before each batch the server is asked which of its ids it has, and a batch it
 * has whole is not sent again. What the migration needs to find its way back after being cut
 * short is written before it is needed: the importing agent's key to the credentials file as soon
 * as the server gives it, each other agent's key (made here, only its hash is sent) before its
 * batch, and the server repository's id to `.gitswarm/migration.json` once it exists (its creation
 * carries an idempotency key, so a retry finds the same repository).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readConfigFile, writeConfigFile } from '../cli/config-file.js';
import { IMPORT_KINDS, type ImportBatch, type ImportKind } from '../core/repos/import-rows.js';
import { findGitRepo } from '../engine/repo.js';
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import type { Agent, Executor, Repo } from '../store/index.js';
import type { GitSwarmClient } from './client.js';
import { assertGitRemote } from './connect.js';
import { newClient } from './connection.js';
import { findStoredKey, saveStoredKey } from './credentials.js';
import { bufferHead, type PublishedBranches, publishBranches } from './migrate-git.js';
import { type LocalAgentRow, readLocalRows, toBatches } from './migration-batches.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface MigrateOptions {
  /** The clone's main repository root (or any directory inside it). */
  cwd: string;
  /** The local store and repository row, already open. */
  db: Executor;
  repo: Repo;
  /** The server's URL, normalized (config-file.ts normalizeServerUrl). */
  server: string;
  /** The environment: where the credentials file is, and the HTTP client's settings. */
  env: Env;
  /** Default: a client of `server` made from `env`. */
  client?: GitSwarmClient;
  /** The local agent the migration acts as; default the repository's owner. */
  as?: string;
  /** The server key of that agent; default the credentials file, else it is registered. */
  apiKey?: string;
  /** The git remote the connected clone shares (default `origin`). */
  remote?: string;
  /** Rows per batch (at most 500). */
  batchRows?: number;
  /** Tests: stop after sending this many batches, as a run cut short would. */
  maxBatches?: number;
  /** Called after each batch the server took. */
  onBatch?: (batch: { kind: ImportKind; rows: number; created: number }) => void;
}

export type MigratedCounts = Record<ImportKind, number>;

export interface MigrateResult {
  server: string;
  /** The server repository. */
  repo_id: string;
  /** The Mode A repository. */
  source_repo_id: string;
  /** The server agent the migration acted as (the local importing agent's new identity). */
  agent: { name: string; id: string };
  /** False when cut short by `maxBatches`: run again to resume. */
  complete: boolean;
  /** Rows the server holds of each kind after this run. */
  migrated: MigratedCounts;
  /** Batches sent by this run, and those skipped because the server had them. */
  batches: { sent: number; skipped: number };
  /** The branches published to the remote before the upload. */
  branches: PublishedBranches;
}

/** The local record of a migration in progress: which server repository it goes to. */
export interface MigrationState {
  server: string;
  repo_id: string;
  source_repo_id: string;
  agent: string;
}

export const MIGRATION_FILE = 'migration.json';

function statePath(root: string): string {
  return join(root, '.gitswarm', MIGRATION_FILE);
}

export function readMigrationState(root: string): MigrationState | null {
  try {
    const parsed = JSON.parse(readFileSync(statePath(root), 'utf8')) as Partial<MigrationState>;
    if (typeof parsed.server === 'string' && typeof parsed.repo_id === 'string') {
      return parsed as MigrationState;
    }
    return null;
  } catch {
    return null;
  }
}

function writeMigrationState(root: string, state: MigrationState): void {
  const file = statePath(root);
  mkdirSync(join(root, '.gitswarm'), { recursive: true });
  const temporary = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temporary, file);
}

/** A new API key in the server's shape (`gs_` and 32 random bytes, base64url). */
function newApiKey(): string {
  return `gs_${randomBytes(32).toString('base64url')}`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

async function importingAgent(db: Executor, repo: Repo, as: string | undefined): Promise<Agent> {
  let query = db.selectFrom('gitswarm_agents as a').selectAll('a');
  if (as) {
    query = query.where((eb) => eb.or([eb('a.name', '=', as), eb('a.id', '=', as)]));
  } else {
    query = query
      .innerJoin('gitswarm_maintainers as m', 'm.agent_id', 'a.id')
      .where('m.repo_id', '=', repo.id)
      .where('m.role', '=', 'owner')
      .orderBy('m.created_at');
  }
  const agent = await query.executeTakeFirst();
  if (!agent) {
    throw new GitSwarmError(
      as ? 'agent_not_found' : 'agent_required',
      as ? `No local agent ${as}.` : 'The repository has no owner to migrate as.',
      { hint: 'Name the local agent to migrate as with --as NAME.' },
    );
  }
  return agent;
}

interface Session {
  options: MigrateOptions;
  root: string;
  client: GitSwarmClient;
}

function saveKey(session: Session, agent: { id: string; name: string }, key: string): void {
  saveStoredKey(
    session.options.env,
    session.options.server,
    { agent_id: agent.id, agent_name: agent.name, api_key: key },
    { notInside: session.root },
  );
}

/** The importing agent's server key: given, saved, or a new registration (saved at once). */
async function serverKey(session: Session, agent: Agent): Promise<string> {
  const { options } = session;
  if (options.apiKey) return options.apiKey;
  const saved = findStoredKey(options.env, options.server, agent.name);
  if (saved) return saved.api_key;
  const registered = await session.client
    .post<{ agent: { id: string; name: string }; api_key: string }>('/agents', {
      name: agent.name,
      ...(agent.description ? { description: agent.description } : {}),
    })
    .catch((error: unknown) => {
      if (!isGitSwarmError(error, 'already_exists')) throw error;
      throw new GitSwarmError(
        'already_exists',
        `An agent named ${agent.name} already exists on ${options.server}.`,
        {
          hint: `If it is you, run sync again with --api-key KEY (its key); else migrate as another local agent with --as NAME.`,
          cause: error,
        },
      );
    });
  saveKey(session, registered.agent, registered.api_key);
  return registered.api_key;
}

/** The server repository of this migration: recorded, or created now (once, by idempotency key). */
async function serverRepo(session: Session, agentName: string): Promise<string> {
  const { options, root } = session;
  const state = readMigrationState(root);
  if (state && state.server === options.server && state.source_repo_id === options.repo.id) {
    return state.repo_id;
  }
  const created = await session.client.post<{ repo: { id: string } }>(
    '/repos',
    { name: options.repo.name },
    { idempotencyKey: `gitswarm-migrate-${options.repo.id}` },
  );
  writeMigrationState(root, {
    server: options.server,
    repo_id: created.repo.id,
    source_repo_id: options.repo.id,
    agent: agentName,
  });
  return created.repo.id;
}

/** Agent rows with `self` marked and, for the others, the hash of a key saved before it is sent. */
function agentRows(session: Session, rows: LocalAgentRow[], self: Agent) {
  const { env, server } = session.options;
  return rows.map((row) => {
    if (row.id === self.id) return { ...row, api_key_hash: null, self: true };
    let key = findStoredKey(env, server, row.id)?.api_key;
    if (!key) {
      key = newApiKey();
      saveKey(session, row, key);
    }
    return { ...row, api_key_hash: sha256(key), self: false };
  });
}

/** Tells the server where the published buffer is, unless it already knows a head. */
async function recordBufferHead(client: GitSwarmClient, repoId: string, head: string | null): Promise<void> {
  if (head === null) return;
  const path = `/repos/${encodeURIComponent(repoId)}/buffer-head`;
  const known = await client.get<{ buffer_head: string | null }>(path);
  if (known.buffer_head !== null) return;
  await client.put(path, { commit: head, previous: null }, { idempotencyKey: true });
}

/** Connects the clone: the server, its repository and the shared remote go into the config. */
function connectClone(root: string, server: string, repoId: string, remote: string): void {
  const config = readConfigFile(root);
  if (!config) throw new GitSwarmError('not_initialized', `GitSwarm is not set up in ${root}`);
  writeConfigFile(root, { ...config, server: { url: server, repo_id: repoId, remote } });
}

/** Uploads the Mode A repository to the server and connects the clone; see the module comment. */
export async function migrateToServer(options: MigrateOptions): Promise<MigrateResult> {
  const { root } = await findGitRepo(options.cwd);
  const remote = options.remote ?? 'origin';
  await assertGitRemote(root, remote);
  const branches = await publishBranches(root, options.db, options.repo, remote);
  const anonymous = options.client ?? newClient(options.server, { env: options.env });
  const session: Session = { options, root, client: anonymous };
  const self = await importingAgent(options.db, options.repo, options.as);
  const key = await serverKey(session, self);
  const client = anonymous.withApiKey(key, self.name);
  session.client = client;
  const me = (await client.get<{ agent: { id: string; name: string } }>('/me')).agent;
  if (options.apiKey) saveKey(session, me, options.apiKey);
  const repoId = await serverRepo(session, self.name);
  const base = `/repos/${encodeURIComponent(repoId)}/import`;

  const local = await readLocalRows(options.db, options.repo);
  const migrated = Object.fromEntries(
    IMPORT_KINDS.map((kind) => [kind, local[kind].length]),
  ) as MigratedCounts;
  const result: MigrateResult = {
    server: options.server,
    repo_id: repoId,
    source_repo_id: options.repo.id,
    agent: { name: me.name, id: me.id },
    complete: false,
    migrated,
    batches: { sent: 0, skipped: 0 },
    branches,
  };

  const status = await client.get<{ import: { status: string } | null }>(base);
  if (status.import?.status !== 'done') {
    for (const kind of IMPORT_KINDS) {
      const rows = kind === 'agents' ? agentRows(session, local.agents, self) : local[kind];
      for (const batch of toBatches(kind, rows as ImportBatch['rows'], options.batchRows)) {
        const ids = batch.rows.map((row) => row.id);
        const { known } = await client.post<{ known: string[] }>(`${base}/known`, { kind, ids });
        if (known.length === ids.length) {
          result.batches.skipped += 1;
          continue;
        }
        if (options.maxBatches !== undefined && result.batches.sent >= options.maxBatches) return result;
        // A batch is idempotent by its ids; the key lets the client retry an answer that was lost.
        const taken = await client.post<{ created: number }>(
          `${base}/${kind}`,
          { rows: batch.rows },
          { idempotencyKey: true },
        );
        result.batches.sent += 1;
        options.onBatch?.({ kind, rows: batch.rows.length, created: taken.created });
      }
    }
    await client.post(`${base}/finish`, undefined, { idempotencyKey: true });
  }
  await recordBufferHead(client, repoId, await bufferHead(root, options.repo));
  connectClone(root, options.server, repoId, remote);
  result.complete = true;
  return result;
}
