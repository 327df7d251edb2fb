/**
 * `gitswarm sync [--server URL] [--drop ID]` (spec/cli.md, Mode B). On a connected clone: flush
 * the outbox, then pull (src/remote/sync.ts); `--drop ID` removes one outbox entry without asking
 * the server. On a Mode A repository given `--server URL` (or GITSWARM_SERVER): migrate it with
 * b-migrate's migrateToServer, then connect the clone (`server` in .gitswarm/config.json).
 */
import { GitSwarmError } from '../errors.js';
import type { MigratedCounts } from '../remote/migrate.js';
import type { OutboxItem } from '../remote/outbox.js';
import type { SyncResult } from '../remote/sync.js';
import type { CommandDeps, RemoteDeps } from './context.js';
import { type Style, table } from './output.js';

export interface SyncOptions {
  drop?: string;
}

export interface SyncCommandResult extends SyncResult {
  server: { url: string; repo_id: string | null };
  /** A migration: the rows the server holds of each kind. */
  migrated?: MigratedCounts;
}

export async function runSync(opts: SyncOptions, deps: CommandDeps): Promise<SyncCommandResult> {
  const remote = deps.remote;
  if (!remote) {
    throw new GitSwarmError('usage', 'sync needs a server: this repository is not connected to one.', {
      hint: 'Migrate it and connect this clone with: gitswarm sync --server URL',
    });
  }
  if (!remote.connection.configured) return migrate(opts, deps, remote);
  const server = { url: remote.connection.url, repo_id: remote.connection.repoId ?? null };
  const { offlineContextOf, clientGet } = await import('../remote/offline-client.js');
  const offline = offlineContextOf({
    db: deps.core.store.db,
    connection: remote.connection,
    client: remote.client,
    env: deps.io.env,
    root: deps.ctx.root,
    notify: (line) => deps.io.stderr.write(`${line}\n`),
  });
  const { dropOutboxEntry, syncWithServer } = await import('../remote/sync.js');
  if (opts.drop !== undefined) return { ...(await dropOutboxEntry(offline, opts.drop)), server };
  const result = await syncWithServer({
    ...offline,
    get: clientGet(remote.client),
    fetchRefs: () => fetchSharedRefs(deps, remote),
  });
  return { ...result, server };
}

/**
 * The buffer and main as the shared remote has them now (b-git's fetch); how many moved. A remote
 * that cannot be reached is a notice, not a failure: the governance side is synced.
 */
async function fetchSharedRefs(deps: CommandDeps, remote: RemoteDeps): Promise<number> {
  const { fetchRefs, hasRemote, trackingRef } = await import('../engine/remote.js');
  const { readRef } = await import('../engine/repo.js');
  const options = { remote: remote.connection.remote };
  if (!(await hasRemote(deps.ctx.root, options))) return 0;
  const refs = [...new Set([deps.ctx.repo.buffer_branch, deps.ctx.repo.promote_target])].map(
    (branch) => `refs/heads/${branch}`,
  );
  const before = await Promise.all(refs.map((ref) => readRef(deps.ctx.root, trackingRef(ref, options))));
  try {
    const after = await fetchRefs(deps.ctx.root, refs, options);
    return refs.filter((ref, i) => (after.get(ref) ?? null) !== before[i]).length;
  } catch (error) {
    deps.io.stderr.write(
      `notice: could not fetch from ${remote.connection.remote}: ${(error as Error).message}\n`,
    );
    return 0;
  }
}

async function migrate(opts: SyncOptions, deps: CommandDeps, remote: RemoteDeps): Promise<SyncCommandResult> {
  if (opts.drop !== undefined) {
    throw new GitSwarmError('usage', '--drop needs a clone connected to a server; this repository is not.');
  }
  const { url } = remote.connection;
  const { migrateToServer } = await import('../remote/migrate.js');
  const { getAgent } = await import('../core/agents/agents.js');
  const db = deps.core.store.db;
  // Keys go to the credentials file and the clone is connected by migrateToServer itself.
  const result = await migrateToServer({
    cwd: deps.ctx.root,
    db,
    repo: deps.ctx.repo,
    server: url,
    env: deps.io.env,
    remote: remote.connection.remote,
    ...(deps.ctx.agentRef ? { as: (await getAgent(db, deps.ctx.agentRef)).name } : {}),
    ...(remote.connection.apiKey ? { apiKey: remote.connection.apiKey } : {}),
    onBatch: (batch) => deps.io.stderr.write(`migrated ${batch.rows} ${batch.kind}\n`),
  });
  return {
    pushed: 0,
    pulled: 0,
    pending: 0,
    failed: 0,
    failed_entries: [],
    server: { url, repo_id: result.repo_id },
    migrated: result.migrated,
  };
}

function entryRows(entries: readonly OutboxItem[]): string[][] {
  return entries.map((e) => [`#${e.seq}`, e.id.slice(0, 8), e.command, e.target, e.last_error ?? '']);
}

export function formatSync(result: SyncCommandResult, style: Style): string {
  const lines: string[] = [];
  if (result.migrated) {
    const counts = Object.entries(result.migrated)
      .filter(([, n]) => n > 0)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ');
    lines.push(
      `Migrated to ${result.server.url} (repository ${result.server.repo_id}): ${counts || 'nothing yet'}.`,
    );
    lines.push("This clone is now connected; the agents' keys are in the credentials file.");
    return lines.join('\n');
  }
  if (result.dropped) {
    lines.push(
      `Dropped #${result.dropped.seq} ${result.dropped.id.slice(0, 8)} (${result.dropped.command}: ${result.dropped.target}).`,
    );
  } else {
    lines.push(`Synced with ${result.server.url}: ${result.pushed} sent, ${result.pulled} pulled.`);
  }
  lines.push(`Outbox: ${result.pending} pending, ${result.failed} refused by the server.`);
  if (result.failed_entries.length > 0) {
    lines.push('', style.bold('Refused for good (kept until dropped with: gitswarm sync --drop ID):'));
    lines.push(table(entryRows(result.failed_entries), ['#', 'ID', 'COMMAND', 'REQUEST', 'REFUSAL']));
  }
  return lines.join('\n');
}
