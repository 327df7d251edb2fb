/**
 * `gitswarm activity [--limit N] [--follow]`: the activity log, oldest of the shown entries first;
 * `--follow` then polls every 500 ms and prints new entries until interrupted (with `--json`, one
 * JSON document per line: the first lists the recent entries, each later one is one entry).
 * Connected, the entries are the server's and `--follow` listens on its WebSocket.
 */
import { listActivity } from '../core/activity/activity.js';
import { GitSwarmError } from '../errors.js';
import type { ActivityEntry } from '../store/index.js';
import type { CommandDeps } from './context.js';
import { type Style, safeText, table } from './output.js';

export interface ActivityOptions {
  limit?: string;
}

export type ActivityView = ActivityEntry & { agent_name: string | null };

export interface ActivityResult {
  activity: ActivityView[];
}

export const FOLLOW_INTERVAL_MS = 500;

function parseLimit(limit: string | undefined): number {
  if (limit === undefined) return 20;
  const n = Number(limit);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new GitSwarmError(
      'invalid_input',
      `--limit must be a whole number from 1 to 1000, not ${JSON.stringify(limit)}.`,
    );
  }
  return n;
}

async function withAgentNames(deps: CommandDeps, entries: ActivityEntry[]): Promise<ActivityView[]> {
  const ids = [...new Set(entries.map((e) => e.agent_id).filter((id): id is string => id !== null))];
  const names =
    ids.length === 0
      ? []
      : await deps.core.store.db
          .selectFrom('gitswarm_agents')
          .select(['id', 'name'])
          .where('id', 'in', ids)
          .execute();
  const byId = new Map(names.map((a) => [a.id, a.name]));
  return entries.map((e) => ({ ...e, agent_name: e.agent_id ? (byId.get(e.agent_id) ?? null) : null }));
}

/** The latest entries of this repository, oldest first. */
export async function runActivity(opts: ActivityOptions, deps: CommandDeps): Promise<ActivityResult> {
  if (deps.remote) {
    const { activityRemote } = await import('../remote/commands/activity.js');
    return activityRemote(parseLimit(opts.limit), { ...deps, remote: deps.remote });
  }
  const entries = await listActivity(deps.core.store.db, {
    repoId: deps.ctx.repo.id,
    limit: parseLimit(opts.limit),
  });
  return { activity: await withAgentNames(deps, entries.reverse()) };
}

/** Checks what `--follow` needs before anything is printed (connected: the agent's key). */
export async function prepareFollow(deps: CommandDeps): Promise<void> {
  if (!deps.remote) return;
  const { followPrerequisites } = await import('../remote/commands/activity.js');
  await followPrerequisites({ ...deps, remote: deps.remote });
}

/**
 * Polls for entries newer than `after` until `signal` aborts, handing each batch (oldest first)
 * to `emit`. Entries sharing the last timestamp are de-duplicated by id.
 */
export async function followActivity(
  deps: CommandDeps,
  after: ActivityView[],
  emit: (entries: ActivityView[]) => void,
): Promise<void> {
  if (deps.remote) {
    const { followActivityRemote } = await import('../remote/commands/activity.js');
    return followActivityRemote({ ...deps, remote: deps.remote }, after, emit);
  }
  const { signal } = deps.io;
  const last = after[after.length - 1];
  let since = last?.created_at ?? '';
  let seen = new Set(after.filter((e) => e.created_at === since).map((e) => e.id));
  while (!signal.aborted) {
    await sleep(FOLLOW_INTERVAL_MS, signal);
    if (signal.aborted) break;
    const rows = await deps.core.store.db
      .selectFrom('gitswarm_activity_log')
      .selectAll()
      .where('repo_id', '=', deps.ctx.repo.id)
      .where('created_at', '>=', since)
      .orderBy('created_at')
      .orderBy('id')
      .limit(1000)
      .execute();
    const fresh = rows.filter((row) => !seen.has(row.id));
    if (fresh.length === 0) continue;
    emit(await withAgentNames(deps, fresh));
    since = fresh[fresh.length - 1]!.created_at;
    seen = new Set(rows.filter((row) => row.created_at === since).map((row) => row.id));
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function describe(entry: ActivityView): string {
  const meta = entry.metadata ?? {};
  const parts: string[] = [];
  for (const key of ['name', 'agent', 'verdict', 'level', 'commit', 'merge_commit', 'reason'] as const) {
    const value = meta[key];
    if (typeof value === 'string' || typeof value === 'number') parts.push(`${key}=${value}`);
  }
  return safeText(parts.join(' '));
}

/** One line per entry: time, agent, event, target, details. */
export function formatActivityEntries(entries: ActivityView[], style: Style): string {
  return table(
    entries.map((e) => [
      style.dim(e.created_at.replace('T', ' ').slice(0, 19)),
      e.agent_name ?? '-',
      style.cyan(e.event_type),
      e.target_type && e.target_id ? `${e.target_type} ${e.target_id}` : '-',
      describe(e),
    ]),
  );
}

export function formatActivity(result: ActivityResult, style: Style): string {
  if (result.activity.length === 0) return 'No activity yet.';
  return formatActivityEntries(result.activity, style);
}
