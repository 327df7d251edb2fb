/** Repositories: each with its stage, mode, buffer ahead of main, streams waiting, last stabilization and live agents. */
import { api, apiAll, LIST_PAGE, withQuery } from '../api.js';
import type { Rendered } from '../components.js';
import { Loaded, Pill, Time } from '../components.js';
import { repoMode } from '../format.js';
import { useResource } from '../hooks.js';
import { html } from '../html.js';
import { useTitle } from '../title.js';
import type { ActivityEvent, Repo } from '../types.js';

interface Promotion {
  promoted_at: string;
  to_commit: string;
}
interface Stabilization {
  result: string;
  stabilized_at: string;
}
/** A merge into the buffer, marked when reverted since. */
export interface BufferMerge extends ActivityEvent {
  reverted: boolean;
}
export interface BufferLead {
  lastPromotion: Promotion | null;
  merges: BufferMerge[];
  ahead: number;
}
interface RowData {
  inReview: number;
  conflicted: number;
  lastStabilization: Stabilization | null;
  ahead: number;
  revertedSince: number;
  liveAgents: number;
}

/** An agent with activity in the last quarter hour counts as live. */
export const LIVE_WINDOW_MS = 15 * 60 * 1000;

/** The latest merges, reverts and promotions asked for at once: most buffers are fewer merges ahead. */
const LEAD_GUESS = 100;
const MERGE_EVENTS = 'stream.merged,stream.reverted';

/** A promotion as its log entry tells it (every promotion is logged as `buffer.promoted`). */
function promotionOf(event: ActivityEvent): Promotion {
  return { promoted_at: event.created_at, to_commit: String(event.metadata?.to_commit ?? '') };
}

/**
 * The buffer's lead over main, from the activity log: the merges into the buffer since the last
 * promotion (newest first, each marked when reverted since), how many of them still stand, and
 * the last promotion. One request in the usual case: the latest merges, reverts and promotions
 * together, the lead being what comes before the first promotion. Only when that many merges
 * have no promotion among them are the last promotion and every merge after it fetched.
 */
export async function loadBufferLead(repoId: string): Promise<BufferLead> {
  const { activity: latest } = await api<{ activity: ActivityEvent[] }>(
    withQuery(`/repos/${repoId}/activity`, {
      event_type: `${MERGE_EVENTS},buffer.promoted`,
      limit: LEAD_GUESS,
    }),
  );
  const at = latest.findIndex((event) => event.event_type === 'buffer.promoted');
  let last: Promotion | null = null;
  let activity = latest;
  if (at >= 0) {
    last = promotionOf(latest[at] as ActivityEvent);
    activity = latest.slice(0, at);
  } else if (latest.length === LEAD_GUESS) {
    const { promotions } = await api<{ promotions: Promotion[] }>(
      withQuery(`/repos/${repoId}/promote/history`, { limit: 1 }),
    );
    last = promotions[0] ?? null;
    activity = await apiAll<ActivityEvent>(`/repos/${repoId}/activity`, 'activity', {
      event_type: MERGE_EVENTS,
      after: last?.promoted_at,
      limit: LIST_PAGE,
    });
  }
  const reverted = new Set(
    activity.filter((event) => event.event_type === 'stream.reverted').map((event) => event.target_id),
  );
  const merges = activity
    .filter((event) => event.event_type === 'stream.merged')
    .map((event) => ({ ...event, reverted: reverted.has(event.target_id) }));
  return { lastPromotion: last, merges, ahead: merges.filter((merge) => !merge.reverted).length };
}

/** The agents with activity in `repoId` during the live window. */
export async function loadLiveAgents(repoId: string): Promise<string[]> {
  const after = new Date(Date.now() - LIVE_WINDOW_MS).toISOString();
  const activity = await apiAll<ActivityEvent>(`/repos/${repoId}/activity`, 'activity', {
    after,
    limit: LIST_PAGE,
  });
  return [...new Set(activity.map((event) => event.agent_id).filter((id): id is string => Boolean(id)))];
}

async function loadRow(repo: Repo): Promise<RowData> {
  const [streams, { stabilizations }, lead, live] = await Promise.all([
    apiAll<{ status: string }>(`/repos/${repo.id}/streams`, 'streams', { status: 'in_review,conflicted' }),
    api<{ stabilizations: Stabilization[] }>(withQuery(`/repos/${repo.id}/stabilize/history`, { limit: 1 })),
    loadBufferLead(repo.id),
    loadLiveAgents(repo.id),
  ]);
  return {
    inReview: streams.filter((s) => s.status === 'in_review').length,
    conflicted: streams.filter((s) => s.status === 'conflicted').length,
    lastStabilization: stabilizations[0] ?? null,
    ahead: lead.ahead,
    revertedSince: lead.merges.length - lead.ahead,
    liveAgents: live.length,
  };
}

/** How often a row (or the list) may reload while a repository is busy. */
const ROW_RELOAD_MS = 1000;

interface RowProps {
  repo: Repo;
}

function Row({ repo }: RowProps): Rendered {
  const state = useResource(
    () => loadRow(repo),
    [repo.id],
    (event) => event.repo_id === repo.id,
    {
      minIntervalMs: ROW_RELOAD_MS,
    },
  );
  const row = state.data;
  const stab = row?.lastStabilization;
  const pending = html`<span class="muted">…</span>`;
  return html`<tr data-repo=${repo.name} data-loaded=${row ? '' : undefined}>
    <th scope="row"><a href=${`/repos/${repo.id}`}>${repo.name}</a>${repo.is_private ? html` <span class="tag">private</span>` : null}</th>
    <td>${repo.stage}</td>
    <td>${repoMode(repo)} · ${repo.merge_mode}</td>
    <td class="num" data-field="ahead">${row ? html`${row.ahead}${row.revertedSince ? html` <span class="muted">(+${row.revertedSince} reverted)</span>` : null}` : pending}</td>
    <td class="num" data-field="waiting">${row ? html`${row.inReview}${row.conflicted ? html` <span class="muted">(+${row.conflicted} conflicted)</span>` : null}` : pending}</td>
    <td data-field="stabilization">${!row ? pending : stab ? html`<${Pill} state=${stab.result} /> <${Time} at=${stab.stabilized_at} />` : html`<span class="muted">never</span>`}</td>
    <td class="num" data-field="live-agents">${row ? row.liveAgents : pending}</td>
  </tr>`;
}

export function ReposPage(): Rendered {
  useTitle('Repositories');
  // The list changes when a repository is created, changed or archived, or its stage moves; each
  // row follows its own repository's events.
  const state = useResource(
    async () => (await api<{ repos: Repo[] }>('/repos')).repos,
    [],
    (event) => /^(repo\.|stage\.)/.test(event.event_type),
    { minIntervalMs: ROW_RELOAD_MS },
  );
  return html`<h1>Repositories</h1>
    <${Loaded}
      state=${state}
      render=${(repos: Repo[]) =>
        repos.length === 0
          ? html`<p>No repositories you can read. Public ones show without a key; enter an API key for private ones.</p>`
          : html`<div class="table-wrap"><table class="repos">
              <caption class="visually-hidden">Repositories and their state</caption>
              <thead><tr>
                <th scope="col">Repository</th><th scope="col">Stage</th><th scope="col">Mode</th>
                <th scope="col" class="num">Buffer ahead of main</th><th scope="col" class="num">Streams waiting</th>
                <th scope="col">Last stabilization</th><th scope="col" class="num">Live agents</th>
              </tr></thead>
              <tbody>${repos.map((repo) => html`<${Row} key=${repo.id} repo=${repo} />`)}</tbody>
            </table></div>`}
    />`;
}
