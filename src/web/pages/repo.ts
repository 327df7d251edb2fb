/**
 * A repository: the streams board with consensus, buffer vs main, the stabilization timeline,
 * tasks and bounties with the budget, council and proposals, stage progress and recent activity.
 * Each section reloads on its own events only.
 */
import type { Ref } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useAgents } from '../agents.js';
import { api, apiOr, withQuery } from '../api.js';
import {
  AgentLink,
  ConsensusBar,
  Loaded,
  Loading,
  Pill,
  type Rendered,
  Section,
  Time,
} from '../components.js';
import { age, exactTime, mapLimit, plural, repoMode, shortSha } from '../format.js';
import { type ResourceState, useLiveEvents, useResource } from '../hooks.js';
import { html } from '../html.js';
import { onLiveEvent } from '../live.js';
import { useTitle } from '../title.js';
import type {
  ActivityEvent,
  Agent,
  Budget,
  BufferHead,
  Consensus,
  CouncilAnswer,
  Proposal,
  RepoDetail,
  StabilizationRecord,
  StageStatus,
  Stream,
  Task,
  TaskClaim,
} from '../types.js';
import { ActivityList } from './activity.js';
import { type BufferLead, loadBufferLead } from './repos.js';

type Agents = Map<string, Agent>;

/** The board: streams by column, and what the cards need (consensus as it is fetched, names, statuses, parents). */
export interface BoardData {
  byStatus: Map<string, Stream[]>;
  /** undefined: not fetched yet; null: none (no verdicts, or not open). */
  consensus: Map<string, Consensus | null>;
  names: Map<string, string>;
  statuses: Map<string, string>;
  parents: Map<string, string | null | undefined>;
  total: number;
}

/** A stream as it is now, with its consensus when open. */
export interface BoardUpdate {
  stream: Stream;
  consensus: Consensus | null;
}

interface BoardState extends ResourceState<BoardData> {
  /** Asks for a card's consensus (once it is on screen). */
  want: (id: string) => void;
}

/** The board's columns, in the order a stream moves through them. */
export const BOARD_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['active', 'Active'],
  ['in_review', 'In review'],
  ['conflicted', 'Conflicted'],
  ['merged', 'Merged'],
  ['reverted', 'Reverted'],
];
const OPEN_STATUSES = ['active', 'in_review', 'conflicted'];
/** Cards shown per column before "show all" (a column of a thousand cards helps nobody). */
const COLUMN_PAGE = 12;

const ofRepo = (repoId: string, prefixes: readonly string[]) => (event: ActivityEvent) =>
  event.repo_id === repoId && prefixes.some((prefix) => event.event_type.startsWith(prefix));

async function loadBoard(repoId: string): Promise<BoardData> {
  const { streams } = await api<{ streams: Stream[] }>(`/repos/${repoId}/streams`);
  const byStatus = new Map<string, Stream[]>(BOARD_COLUMNS.map(([status]) => [status, []]));
  for (const stream of streams) byStatus.get(stream.status)?.push(stream);
  // Newest first in each column.
  for (const list of byStatus.values()) list.reverse();
  // Consensus is fetched per card as it scrolls into view (useBoard's `want`): one request per
  // stream, so a thousand open streams must not cost a thousand requests up front.
  const consensus = new Map<string, Consensus | null>();
  const names = new Map(streams.map((stream) => [stream.id, stream.name]));
  const statuses = new Map(streams.map((stream) => [stream.id, stream.status]));
  const parents = new Map(streams.map((stream) => [stream.id, stream.parent_stream_id]));
  return { byStatus, consensus, names, statuses, parents, total: streams.length };
}

/** The board with `updates` ({stream, consensus}) applied: each stream replaced in place or moved to its new column. */
export function patchBoard(board: BoardData, updates: readonly BoardUpdate[]): BoardData {
  const byStatus = new Map(board.byStatus);
  const consensus = new Map(board.consensus);
  const names = new Map(board.names);
  const statuses = new Map(board.statuses);
  const parents = new Map(board.parents);
  let total = board.total;
  for (const { stream, consensus: latest } of updates) {
    const before = statuses.get(stream.id);
    if (before === undefined) total += 1;
    if (before !== undefined && before !== stream.status && byStatus.has(before)) {
      byStatus.set(
        before,
        (byStatus.get(before) ?? []).filter((s) => s.id !== stream.id),
      );
    }
    const column = byStatus.get(stream.status);
    if (column) {
      const at = column.findIndex((s) => s.id === stream.id);
      if (at >= 0)
        byStatus.set(
          stream.status,
          column.map((s) => (s.id === stream.id ? stream : s)),
        );
      else {
        // Columns are newest first: the stream goes where its creation time puts it.
        const index = column.findIndex((s) => s.created_at < stream.created_at);
        const next = [...column];
        next.splice(index < 0 ? next.length : index, 0, stream);
        byStatus.set(stream.status, next);
      }
    }
    names.set(stream.id, stream.name);
    statuses.set(stream.id, stream.status);
    parents.set(stream.id, stream.parent_stream_id);
    if (latest) consensus.set(stream.id, latest);
  }
  return { byStatus, consensus, names, statuses, parents, total };
}

/**
 * The board, kept live: loaded once, then each stream event fetches only that stream and its
 * consensus and patches the board (with a thousand streams, reloading all of them per event would
 * be slow and costly). A reconnect, or an event without a stream, reloads everything.
 */
function useBoard(repoId: string): BoardState {
  const [state, setState] = useState<ResourceState<BoardData>>({ data: undefined, error: null });
  const wantRef = useRef<(id: string) => void>(() => {});
  useEffect(() => {
    let alive = true;
    let generation = 0;
    const full = () => {
      const mine = ++generation;
      loadBoard(repoId).then(
        (data) => alive && mine === generation && setState({ data, error: null }),
        (error) => alive && mine === generation && setState((old) => ({ data: old.data, error })),
      );
    };
    const pending = new Set<string>();
    let scheduled = false;
    let chain = Promise.resolve();
    const flush = async () => {
      const ids = [...pending];
      pending.clear();
      const mine = generation;
      const updates = await Promise.all(
        ids.map(async (id) => {
          const { stream } = await api<{ stream: Stream }>(`/streams/${id}`);
          // Consensus matters on open streams only (the board shows it there).
          const latest = OPEN_STATUSES.includes(stream.status)
            ? await apiOr<{ consensus: Consensus }, null>(`/streams/${id}/consensus`, null, [404, 409])
            : null;
          return { stream, consensus: latest?.consensus ?? null };
        }),
      );
      if (!alive || mine !== generation) return;
      setState((old) => (old.data ? { data: patchBoard(old.data, updates), error: null } : old));
    };
    const asked = new Set<string>();
    wantRef.current = (id) => {
      if (asked.has(id)) return;
      asked.add(id);
      const mine = generation;
      apiOr<{ consensus: Consensus }, null>(`/streams/${id}/consensus`, null, [404, 409]).then(
        (body) => {
          if (!alive || mine !== generation) return;
          setState((old) => {
            if (!old.data) return old;
            const consensus = new Map(old.data.consensus).set(id, body?.consensus ?? null);
            return { data: { ...old.data, consensus }, error: null };
          });
        },
        () => asked.delete(id),
      );
    };
    full();
    const off = onLiveEvent((event) => {
      if (event === null) {
        asked.clear();
        return full();
      }
      if (event.repo_id !== repoId) return;
      if (!event.event_type.startsWith('stream.') && !event.event_type.startsWith('workspace.')) return;
      if (event.target_type !== 'stream' || !event.target_id) return full();
      pending.add(event.target_id);
      // Events of one message batch together; no timer (a background tab's timers are throttled).
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(() => {
        scheduled = false;
        chain = chain.then(flush).catch(full);
      });
    });
    return () => {
      alive = false;
      off();
    };
  }, [repoId]);
  return { ...state, want: (id: string) => wantRef.current(id) };
}

/** One observer for every card: which cards have been on screen (clipped by their scrolling column too). */
const seenCallbacks = new WeakMap<Element, () => void>();
let cardObserver: IntersectionObserver | null = null;
function observeCard(element: Element, onSeen: () => void): () => void {
  cardObserver ??= new IntersectionObserver((entries, observer) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      seenCallbacks.get(entry.target)?.();
      observer.unobserve(entry.target);
    }
  });
  const observer = cardObserver;
  seenCallbacks.set(element, onSeen);
  observer.observe(element);
  return () => observer.unobserve(element);
}

/** Whether the element has been on screen; observed only while `active`. */
function useSeen(active: boolean): [Ref<HTMLLIElement>, boolean] {
  const ref = useRef<HTMLLIElement>(null);
  const [seen, setSeen] = useState(false);
  useEffect(() => {
    if (!active || seen || !ref.current) return;
    return observeCard(ref.current, () => setSeen(true));
  }, [active, seen]);
  return [ref, seen];
}

interface StreamCardProps {
  stream: Stream;
  consensus: Consensus | null | undefined;
  agents: Agents;
  names: Map<string, string>;
  want: (id: string) => void;
}

function StreamCard({ stream, consensus, agents, names, want }: StreamCardProps): Rendered {
  const parent = stream.parent_stream_id;
  const open = OPEN_STATUSES.includes(stream.status);
  const [ref, visible] = useSeen(open);
  useEffect(() => {
    if (visible && consensus === undefined) want(stream.id);
  }, [visible, consensus, stream.id]);
  return html`<li class="card" data-stream=${stream.name} ref=${ref} data-visible=${visible ? '' : undefined}>
    <a class="card-title" href=${`/streams/${stream.id}`}>${stream.name}</a>
    <div class="card-meta">
      <${AgentLink} id=${stream.agent_id} agents=${agents} /> · <time datetime=${stream.created_at} title=${`opened ${exactTime(stream.created_at)}`}>${age(stream.created_at)}</time>
      ${parent ? html` · <span>on <a href=${`/streams/${parent}`}>${names.get(parent) ?? parent.slice(0, 8)}</a></span>` : null}
    </div>
    ${stream.conflict ? html`<div class="conflict-paths">conflict: ${stream.conflict.paths.slice(0, 3).join(', ')}${stream.conflict.paths.length > 3 ? ` +${stream.conflict.paths.length - 3}` : ''}</div>` : null}
    ${open ? html`<${ConsensusBar} consensus=${consensus} />` : null}
  </li>`;
}

interface ColumnProps {
  status: string;
  label: string;
  streams: Stream[];
  board: BoardData;
  agents: Agents;
  want: (id: string) => void;
}

function Column({ status, label, streams, board, agents, want }: ColumnProps): Rendered {
  const [all, setAll] = useState(false);
  const shown = all ? streams : streams.slice(0, COLUMN_PAGE);
  const headingId = `col-${status}`;
  return html`<section class="column" aria-labelledby=${headingId} data-column=${status}>
    <h3 id=${headingId}>${label} <span class="count">${streams.length}</span></h3>
    <div class="cards-box">
      <ul class="cards">
        ${shown.map((stream) => html`<${StreamCard} key=${stream.id} stream=${stream} consensus=${board.consensus.get(stream.id)} agents=${agents} names=${board.names} want=${want} />`)}
      </ul>
      ${streams.length > shown.length ? html`<button type="button" class="more" onClick=${() => setAll(true)}>Show all ${streams.length}</button>` : null}
    </div>
  </section>`;
}

function Board({ state, agents }: { state: BoardState; agents: Agents }): Rendered {
  return html`<${Section} title="Streams" id="streams">
    <${Loaded} state=${state} label="Loading streams…" render=${(board: BoardData) => html`<div class="board">
      ${BOARD_COLUMNS.map(([status, label]) => html`<${Column} key=${status} status=${status} label=${label} streams=${board.byStatus.get(status)} board=${board} agents=${agents} want=${state.want} />`)}
    </div>`} />
  </${Section}>`;
}

/** Most nodes the dependency graph draws. */
const GRAPH_LIMIT = 60;

/** The stream dependency graph (forks): streams built on another stream, as nested lists from each root. */
function DependencyPanel({ board }: { board: BoardData | undefined }): Rendered {
  const children = new Map<string, string[]>();
  for (const [id, parent] of board?.parents ?? []) {
    if (!parent) continue;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent)?.push(id);
  }
  const roots = [...children.keys()].filter((id) => {
    const parent = board?.parents.get(id);
    return !parent || !board?.names.has(parent);
  });
  let drawn = 0;
  const node = (id: string): Rendered => {
    drawn += 1;
    const kids = drawn < GRAPH_LIMIT ? (children.get(id) ?? []) : [];
    const status = board?.statuses.get(id);
    return html`<li key=${id}>
      <a href=${`/streams/${id}`}>${board?.names.get(id) ?? id.slice(0, 8)}</a>${status ? html` <${Pill} state=${status} />` : null}
      ${kids.length > 0 ? html`<ul>${kids.map(node)}</ul>` : null}
    </li>`;
  };
  return html`<${Section} title="Stream dependencies" id="dependencies">
    ${!board ? html`<${Loading} />` : roots.length === 0 ? html`<p class="muted">No stream builds on another.</p>` : html`<ul class="tree" data-panel="dependencies">${roots.map(node)}</ul>`}
  </${Section}>`;
}

async function loadBuffer(repoId: string): Promise<BufferHead & BufferLead> {
  const [head, lead] = await Promise.all([
    api<BufferHead>(`/repos/${repoId}/buffer-head`),
    loadBufferLead(repoId),
  ]);
  return { ...head, ...lead };
}

function BufferPanel({ repo }: { repo: RepoDetail }): Rendered {
  const state = useResource(
    () => loadBuffer(repo.id),
    [repo.id],
    ofRepo(repo.id, ['stream.merged', 'stream.reverted', 'buffer.']),
  );
  return html`<${Section} title="Buffer vs main" id="buffer">
    <${Loaded} state=${state} render=${(b: BufferHead & BufferLead) => html`<div data-panel="buffer">
      <p><strong data-field="ahead">${plural(b.ahead, 'merge')}</strong>${b.merges.length > b.ahead ? ` (and ${b.merges.length - b.ahead} reverted)` : ''} in <code>${b.buffer_branch}</code> not yet promoted to <code>${repo.promote_target}</code>.${' '}${b.buffer_head ? html`Buffer head <code>${shortSha(b.buffer_head)}</code>; ` : null}Last promotion ${b.lastPromotion ? html`<${Time} at=${b.lastPromotion.promoted_at} /> (<code>${shortSha(b.lastPromotion.to_commit)}</code>)` : 'never'}.</p>
      ${b.merges.length > 0 ? html`<ul class="plain">${b.merges.slice(0, 10).map((m) => html`<li key=${m.id}><a href=${`/streams/${m.target_id}`}>${String(m.metadata?.name ?? m.target_id)}</a> <span class="muted">merged <${Time} at=${m.created_at} />${m.reverted ? ', reverted' : ''}</span></li>`)}</ul>` : null}
    </div>`} />
  </${Section}>`;
}

function StabilizationPanel({ repo, board }: { repo: RepoDetail; board: BoardData | undefined }): Rendered {
  const state = useResource(
    async () =>
      (
        await api<{ stabilizations: StabilizationRecord[] }>(
          withQuery(`/repos/${repo.id}/stabilize/history`, { limit: 30 }),
        )
      ).stabilizations,
    [repo.id],
    ofRepo(repo.id, ['buffer.stabilized', 'stream.reverted']),
  );
  return html`<${Section} title="Stabilization" id="stabilization">
    <${Loaded} state=${state} render=${(runs: StabilizationRecord[]) =>
      runs.length === 0
        ? html`<p class="muted">No stabilization yet.</p>`
        : html`<div data-panel="stabilization">
          <ol class="timeline" aria-label="Results, oldest to newest">
            ${[...runs].reverse().map((run) => html`<li key=${run.id} class=${`tick tick-${run.result}`} title=${`${run.result} ${exactTime(run.stabilized_at)}`}><span class="visually-hidden">${run.result}</span></li>`)}
          </ol>
          <ul class="plain runs">${runs.slice(0, 8).map(
            (run) => html`<li key=${run.id}>
            <${Pill} state=${run.result} /> <${Time} at=${run.stabilized_at} /> at <code>${shortSha(run.buffer_commit)}</code>
            ${run.tag ? html` · tag <code>${run.tag}</code>` : null}
            ${run.breaking_stream_id ? html` · blamed <a href=${`/streams/${run.breaking_stream_id}`}>${board?.names.get(run.breaking_stream_id) ?? run.breaking_stream_id.slice(0, 8)}</a>${board?.statuses.get(run.breaking_stream_id) === 'reverted' ? ', reverted' : ''}` : null}
            ${run.duration_ms != null ? html` <span class="muted">${Math.round(run.duration_ms / 100) / 10}s</span>` : null}
          </li>`,
          )}</ul>
        </div>`} />
  </${Section}>`;
}

interface TasksData {
  tasks: Task[];
  budget: Budget | null;
  claims: Map<string, TaskClaim[]>;
}

async function loadTasks(repoId: string): Promise<TasksData> {
  const [{ tasks }, budget] = await Promise.all([
    api<{ tasks: Task[] }>(`/repos/${repoId}/tasks`),
    apiOr<{ budget: Budget }, { budget: null }>(`/repos/${repoId}/budget`, { budget: null }, [403, 404]),
  ]);
  // Who works on a task is in its claims (a task may have several): fetched for the busy ones.
  const busy = tasks.filter((task) => task.status === 'claimed' || task.status === 'submitted').slice(0, 20);
  const claims = new Map<string, TaskClaim[]>();
  await mapLimit(busy, 4, async (task) => {
    const body = await apiOr<{ claims: TaskClaim[] }, { claims: TaskClaim[] }>(`/tasks/${task.id}`, {
      claims: [],
    });
    claims.set(
      task.id,
      body.claims.filter((claim) => claim.status !== 'abandoned'),
    );
  });
  return { tasks, budget: budget.budget, claims };
}

function TasksPanel({ repo, agents }: { repo: RepoDetail; agents: Agents }): Rendered {
  const state = useResource(
    () => loadTasks(repo.id),
    [repo.id],
    ofRepo(repo.id, ['task.', 'bounty.', 'budget.']),
  );
  return html`<${Section} title="Tasks and bounties" id="tasks">
    <${Loaded} state=${state} render=${({ tasks, budget, claims }: TasksData) => html`<div data-panel="tasks">
      ${
        budget
          ? html`<dl class="budget">
        <div><dt>Available</dt><dd data-field="available">${budget.available_credits}</dd></div>
        <div><dt>Reserved</dt><dd data-field="reserved">${budget.reserved_credits}</dd></div>
        <div><dt>Paid</dt><dd data-field="paid">${budget.paid_out_credits}</dd></div>
        <div><dt>Total</dt><dd>${budget.total_credits}</dd></div>
      </dl>`
          : null
      }
      ${
        tasks.length === 0
          ? html`<p class="muted">No tasks.</p>`
          : html`<div class="table-wrap"><table>
        <thead><tr><th scope="col">#</th><th scope="col">Task</th><th scope="col">Status</th><th scope="col">Priority</th><th scope="col" class="num">Bounty</th><th scope="col">Claimed by</th></tr></thead>
        <tbody>${tasks.map(
          (task) => html`<tr key=${task.id} data-task=${task.number}>
          <td>${task.number}</td><td>${task.title}</td><td><${Pill} state=${task.status} /></td><td>${task.priority}</td>
          <td class="num">${task.amount}</td><td>${(claims.get(task.id) ?? []).map((claim, i) => html`${i > 0 ? ', ' : ''}<${AgentLink} id=${claim.agent_id} agents=${agents} />`)}${!claims.get(task.id)?.length && task.assigned_to ? html`<${AgentLink} id=${task.assigned_to} agents=${agents} />` : null}</td>
        </tr>`,
        )}</tbody>
      </table></div>`
      }
    </div>`} />
  </${Section}>`;
}

type CouncilData = CouncilAnswer & { proposals: Proposal[] };

async function loadCouncil(repoId: string): Promise<CouncilData | null> {
  // Whether a council exists, from the log (asking for a missing one is a 404 in the console).
  const { activity } = await api<{ activity: ActivityEvent[] }>(
    withQuery(`/repos/${repoId}/activity`, { event_type: 'council.created', limit: 1 }),
  );
  if (activity.length === 0) return null;
  const council = await apiOr<CouncilAnswer, null>(`/repos/${repoId}/council`, null);
  if (!council) return null;
  const { proposals } = await api<{ proposals: Proposal[] }>(`/repos/${repoId}/council/proposals`);
  return { ...council, proposals };
}

function CouncilPanel({ repo, agents }: { repo: RepoDetail; agents: Agents }): Rendered {
  const state = useResource(
    () => loadCouncil(repo.id),
    [repo.id],
    ofRepo(repo.id, ['council.', 'proposal.', 'election.']),
  );
  return html`<${Section} title="Council" id="council">
    <${Loaded} state=${state} render=${(c: CouncilData | null) =>
      !c
        ? html`<p class="muted">No council.</p>`
        : html`<div data-panel="council">
          <p><${Pill} state=${c.council.status} /> ${plural(c.members.length, 'member')}; quorum ${c.council.standard_quorum} (critical ${c.council.critical_quorum}).</p>
          <ul class="plain inline">${c.members.map((m) => html`<li key=${m.agent_id}><${AgentLink} id=${m.agent_id} agents=${agents} /> <span class="muted">${m.role}</span></li>`)}</ul>
          ${
            c.proposals.length === 0
              ? html`<p class="muted">No proposals.</p>`
              : html`<div class="table-wrap"><table>
            <thead><tr><th scope="col">Proposal</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Votes (for/against/abstain)</th><th scope="col">Execution</th></tr></thead>
            <tbody>${c.proposals.map(
              (p) => html`<tr key=${p.id}>
              <td>${p.title}</td><td>${p.proposal_type}</td><td><${Pill} state=${p.status} /></td>
              <td>${p.votes_for} / ${p.votes_against} / ${p.votes_abstain} <span class="muted">(quorum ${p.quorum_required})</span></td>
              <td>${p.executed ? html`done <${Time} at=${p.executed_at} />` : p.execution_result ? html`<span class="error-text">${p.execution_result.error ?? 'failed'}</span>` : '—'}</td>
            </tr>`,
            )}</tbody>
          </table></div>`
          }
        </div>`} />
  </${Section}>`;
}

const STAGE_METRICS: ReadonlyArray<readonly ['contributors' | 'merged_streams' | 'maintainers', string]> = [
  ['contributors', 'Contributors'],
  ['merged_streams', 'Merged streams'],
  ['maintainers', 'Maintainers'],
];

function StagePanel({ repo }: { repo: RepoDetail }): Rendered {
  const state = useResource(
    async () => (await api<{ stage: StageStatus }>(`/repos/${repo.id}/stage`)).stage,
    [repo.id],
    ofRepo(repo.id, ['stage.', 'stream.merged', 'maintainer.', 'council.']),
  );
  return html`<${Section} title="Stage" id="stage">
    <${Loaded} state=${state} render=${(stage: StageStatus) => html`<div data-panel="stage">
      <p>Stage <strong>${stage.stage}</strong>${stage.next ? html`; next: <strong>${stage.next.stage}</strong>${stage.next.eligible ? ' (eligible)' : ''}` : ' (the last stage)'}.</p>
      ${
        stage.next
          ? html`<ul class="plain progress-list">${STAGE_METRICS.map(([name, label]) => {
              const have = stage.metrics[name];
              const need = stage.next?.requirements[name] ?? 0;
              return html`<li key=${name}><label for=${`stage-${name}`}>${label}: ${have} of ${need}</label>
          <progress id=${`stage-${name}`} max=${Math.max(need, 1)} value=${Math.min(have, Math.max(need, 1))}></progress></li>`;
            })}
      <li>Council: ${stage.metrics.council_active ? 'active' : 'inactive'}${stage.next?.requirements.council_active ? ' (required)' : ''}</li></ul>`
          : null
      }
    </div>`} />
  </${Section}>`;
}

function RepoActivity({
  repo,
  agents,
  names,
}: {
  repo: RepoDetail;
  agents: Agents;
  names: Map<string, string> | undefined;
}): Rendered {
  // Loaded once; live events are the activity entries themselves, so they are added as they come.
  const state = useResource(
    async () =>
      (await api<{ activity: ActivityEvent[] }>(withQuery(`/repos/${repo.id}/activity`, { limit: 30 })))
        .activity,
    [repo.id],
    () => false,
  );
  const live = useLiveEvents((event) => event.repo_id === repo.id, 30);
  const seen = new Set<string>();
  const events = [...live, ...(state.data ?? [])]
    .filter((e) => !seen.has(e.id) && seen.add(e.id))
    .slice(0, 30);
  return html`<${Section} title="Recent activity" id="repo-activity" aside=${html`<a href=${`/activity?repo=${repo.id}`}>All activity</a>`}>
    <${Loaded} state=${state} render=${() => html`<${ActivityList} events=${events} agents=${agents} streams=${names} />`} />
  </${Section}>`;
}

export function RepoPage({ id }: { id: string }): Rendered {
  const agents = useAgents();
  const repoState = useResource(
    async () => (await api<{ repo: RepoDetail }>(`/repos/${id}`)).repo,
    [id],
    (event) => event.repo_id === id && ['repo.', 'stage.'].some((p) => event.event_type.startsWith(p)),
  );
  const board = useBoard(id);
  const names = board.data?.names;
  const repo = repoState.data;
  useTitle(repo ? repo.name : 'Repository');
  if (!repo) return html`<${Loaded} state=${repoState} render=${() => null} />`;
  return html`<h1>${repo.name}</h1>
    <p class="lede">
      ${repoMode(repo)} · ${repo.is_private ? 'private' : 'public'} · ${repo.merge_mode} mode · ${repo.ownership_model} ownership ·
      consensus ${Math.round(repo.consensus_threshold * 100)}% with at least ${plural(repo.min_reviews, 'review')} · stage <strong>${repo.stage}</strong>
    </p>
    <${Board} state=${board} agents=${agents} />
    <div class="grid2">
      <${BufferPanel} repo=${repo} />
      <${StabilizationPanel} repo=${repo} board=${board.data} />
      <${DependencyPanel} board=${board.data} />
      <${TasksPanel} repo=${repo} agents=${agents} />
      <${CouncilPanel} repo=${repo} agents=${agents} />
      <${StagePanel} repo=${repo} />
      <${RepoActivity} repo=${repo} agents=${agents} names=${names} />
    </div>`;
}
