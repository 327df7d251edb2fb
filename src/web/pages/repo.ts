/**
 * A repository: the streams board with consensus, buffer vs main, the stabilization timeline,
 * tasks and bounties with the budget, council and proposals, stage progress and recent activity.
 * Each section reloads on its own events only.
 */
import type { Ref } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { mapLimit } from '../../util/map-limit.js';
import { useAgents } from '../agents.js';
import { api, apiAll, apiOr, LIST_PAGE, withQuery } from '../api.js';
import {
  AgentLink,
  ConsensusBar,
  ErrorBox,
  Loaded,
  Loading,
  memo,
  Pill,
  type Rendered,
  Section,
  Time,
} from '../components.js';
import { age, exactTime, plural, repoMode, shortSha } from '../format.js';
import { type ResourceState, useLiveEvents, useResource, useWhenShown } from '../hooks.js';
import { html } from '../html.js';
import { onLiveEvent } from '../live.js';
import { useTitle } from '../title.js';
import type {
  ActivityEvent,
  Agent,
  BoardAnswer,
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

/** The board: each column's count and its newest streams, and what the cards need (consensus, names, statuses, parents). */
export interface BoardData {
  /** The streams known per column, newest first: the newest few at first, every one once a column is shown in full. */
  byStatus: Map<string, Stream[]>;
  /** How many streams each column has in the repository. */
  counts: Map<string, number>;
  /** The columns whose every stream is in `byStatus`. */
  complete: Set<string>;
  /** undefined: not fetched yet; null: none (no verdicts, or not open). */
  consensus: Map<string, Consensus | null>;
  names: Map<string, string>;
  statuses: Map<string, string>;
  parents: Map<string, string | null | undefined>;
}

/** A stream as it is now, with its consensus when open. */
export interface BoardUpdate {
  stream: Stream;
  consensus: Consensus | null;
  /** The stream is new (stream.created): no column has counted it yet. */
  created?: boolean;
}

interface BoardState extends ResourceState<BoardData> {
  /** Asks for a card's consensus (a card the board answer did not bring, once it is on screen). */
  want: (id: string) => void;
  /** Loads every stream of a column ("Show all"). */
  expand: (status: string) => void;
  /** The first view is in: the board with the consensus of its open cards (or an error). */
  settled: boolean;
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
/** Cards per column the board answer brings and a column shows before "Show all" (a column of a thousand cards helps nobody). */
const COLUMN_PAGE = 12;

const ofRepo = (repoId: string, prefixes: readonly string[]) => (event: ActivityEvent) =>
  event.repo_id === repoId && prefixes.some((prefix) => event.event_type.startsWith(prefix));

/**
 * The board in one request (GET /repos/:id/board): per column the count and the newest cards, the
 * consensus of the open ones, and the fork edges the dependency graph draws.
 */
async function loadBoard(repoId: string): Promise<BoardData> {
  const answer = await api<BoardAnswer>(withQuery(`/repos/${repoId}/board`, { per_column: COLUMN_PAGE }));
  const byStatus = new Map<string, Stream[]>(BOARD_COLUMNS.map(([status]) => [status, []]));
  const counts = new Map<string, number>(BOARD_COLUMNS.map(([status]) => [status, 0]));
  const complete = new Set<string>();
  const consensus = new Map<string, Consensus | null>();
  const names = new Map<string, string>();
  const statuses = new Map<string, string>();
  const parents = new Map<string, string | null | undefined>();
  for (const edge of answer.forks) {
    names.set(edge.parent_id, edge.parent_name);
    statuses.set(edge.parent_id, edge.parent_status);
    names.set(edge.child_id, edge.child_name);
    statuses.set(edge.child_id, edge.child_status);
    parents.set(edge.child_id, edge.parent_id);
  }
  for (const column of answer.columns) {
    if (!byStatus.has(column.status)) continue;
    byStatus.set(column.status, column.streams);
    counts.set(column.status, column.count);
    if (column.streams.length >= column.count) complete.add(column.status);
    for (const stream of column.streams) {
      names.set(stream.id, stream.name);
      statuses.set(stream.id, stream.status);
      parents.set(stream.id, stream.parent_stream_id);
      if (OPEN_STATUSES.includes(stream.status))
        consensus.set(stream.id, answer.consensus[stream.id] ?? null);
    }
  }
  return { byStatus, counts, complete, consensus, names, statuses, parents };
}

/** The board with every stream of the column `status` (oldest first, as the streams list gives them). */
function fillColumn(board: BoardData, status: string, streams: readonly Stream[]): BoardData {
  const names = new Map(board.names);
  const statuses = new Map(board.statuses);
  const parents = new Map(board.parents);
  for (const stream of streams) {
    names.set(stream.id, stream.name);
    statuses.set(stream.id, stream.status);
    parents.set(stream.id, stream.parent_stream_id);
  }
  return {
    ...board,
    byStatus: new Map(board.byStatus).set(status, [...streams].reverse()),
    counts: new Map(board.counts).set(status, streams.length),
    complete: new Set(board.complete).add(status),
    names,
    statuses,
    parents,
  };
}

/**
 * The board with `updates` ({stream, consensus}) applied: each stream replaced in place or moved to
 * its new column, the columns' counts following. A stream the board has not seen is placed where
 * its age puts it among the cards loaded (not at all when older than every one of a column not
 * shown in full); unless it is new, the column it left is unknown, so its counts are left as they
 * are (useBoard asks for them again).
 */
export function patchBoard(board: BoardData, updates: readonly BoardUpdate[]): BoardData {
  const byStatus = new Map(board.byStatus);
  const counts = new Map(board.counts);
  const consensus = new Map(board.consensus);
  const names = new Map(board.names);
  const statuses = new Map(board.statuses);
  const parents = new Map(board.parents);
  for (const { stream, consensus: latest, created } of updates) {
    const before = statuses.get(stream.id);
    if (before !== stream.status) {
      if (before !== undefined && counts.has(before))
        counts.set(before, Math.max(0, (counts.get(before) ?? 0) - 1));
      if ((before !== undefined || created) && counts.has(stream.status)) {
        counts.set(stream.status, (counts.get(stream.status) ?? 0) + 1);
      }
    }
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
        if (index >= 0 || board.complete.has(stream.status)) {
          const next = [...column];
          next.splice(index < 0 ? next.length : index, 0, stream);
          byStatus.set(stream.status, next);
        }
      }
    }
    names.set(stream.id, stream.name);
    statuses.set(stream.id, stream.status);
    parents.set(stream.id, stream.parent_stream_id);
    if (latest) consensus.set(stream.id, latest);
  }
  return { ...board, byStatus, counts, consensus, names, statuses, parents };
}

/**
 * The board, kept live: loaded once, then each stream event fetches only that stream and its
 * consensus and patches the board (with a thousand streams, reloading all of them per event would
 * be slow and costly). A reconnect, or an event without a stream, reloads everything.
 */
function useBoard(repoId: string): BoardState {
  const [state, setState] = useState<ResourceState<BoardData>>({ data: undefined, error: null });
  const [settled, setSettled] = useState(false);
  const wantRef = useRef<(id: string) => void>(() => {});
  const expandRef = useRef<(status: string) => void>(() => {});
  const latest = useRef<BoardData | undefined>(undefined);
  latest.current = state.data;
  // The first load is asked for while the page renders: the board is the page's longest path, and
  // the sections' effects, which run before this hook's, would otherwise send their requests ahead of it.
  const early = useRef<{ repoId: string; load: Promise<BoardData> | null } | null>(null);
  if (early.current?.repoId !== repoId) early.current = { repoId, load: loadBoard(repoId) };
  useLayoutEffect(() => {
    let alive = true;
    let generation = 0;
    const full = () => {
      const mine = ++generation;
      const first = early.current?.repoId === repoId ? early.current.load : null;
      if (early.current) early.current.load = null;
      (first ?? loadBoard(repoId)).then(
        (data) => {
          if (!alive || mine !== generation) return;
          setState({ data, error: null });
          setSettled(true);
        },
        (error) => {
          if (!alive || mine !== generation) return;
          setState((old) => ({ data: old.data, error }));
          setSettled(true);
        },
      );
    };
    /** The columns' counts again (a stream came from a column the board did not know). */
    const recount = async () => {
      const mine = generation;
      const answer = await api<BoardAnswer>(withQuery(`/repos/${repoId}/board`, { per_column: 1 }));
      if (!alive || mine !== generation) return;
      setState((old) => {
        if (!old.data) return old;
        const counts = new Map(old.data.counts);
        for (const column of answer.columns)
          if (counts.has(column.status)) counts.set(column.status, column.count);
        return { data: { ...old.data, counts }, error: null };
      });
    };
    /** Stream ids with a stream event waiting, and whether one of their events was the creation. */
    const pending = new Map<string, boolean>();
    let scheduled = false;
    let chain = Promise.resolve();
    const flush = async () => {
      const ids = [...pending];
      pending.clear();
      const mine = generation;
      const updates = await Promise.all(
        ids.map(async ([id, created]): Promise<BoardUpdate> => {
          const { stream } = await api<{ stream: Stream }>(`/streams/${id}`);
          // Consensus matters on open streams only (the board shows it there).
          const answer = OPEN_STATUSES.includes(stream.status)
            ? await apiOr<{ consensus: Consensus }, null>(`/streams/${id}/consensus`, null, [404, 409])
            : null;
          return { stream, consensus: answer?.consensus ?? null, created };
        }),
      );
      if (!alive || mine !== generation) return;
      const unplaced = updates.some((u) => !u.created && !latest.current?.statuses.has(u.stream.id));
      setState((old) => (old.data ? { data: patchBoard(old.data, updates), error: null } : old));
      if (unplaced) await recount();
    };
    const asked = new Set<string>();
    /** Fetches the consensus of the streams `ids` not asked for yet; the board gets them in one update. */
    const want = async (ids: readonly string[]): Promise<void> => {
      const fresh = ids.filter((id) => !asked.has(id));
      if (fresh.length === 0) return;
      for (const id of fresh) asked.add(id);
      const mine = generation;
      await Promise.all(
        fresh.map((id) =>
          apiOr<{ consensus: Consensus }, null>(`/streams/${id}/consensus`, null, [404, 409]).then(
            (body) => [id, body?.consensus ?? null] as const,
            () => {
              asked.delete(id);
              return null;
            },
          ),
        ),
      ).then((answers) => {
        if (!alive || mine !== generation) return;
        setState((old) => {
          if (!old.data) return old;
          const consensus = new Map(old.data.consensus);
          for (const answer of answers) if (answer) consensus.set(answer[0], answer[1]);
          return { data: { ...old.data, consensus }, error: null };
        });
      });
    };
    /** Every stream of a column, a page of the streams list at a time ("Show all"). */
    const expand = async (status: string): Promise<void> => {
      const mine = generation;
      const streams = await apiAll<Stream>(`/repos/${repoId}/streams`, 'streams', { status });
      if (!alive || mine !== generation) return;
      setState((old) => (old.data ? { data: fillColumn(old.data, status, streams), error: null } : old));
    };
    wantRef.current = (id) => void want([id]);
    expandRef.current = (status) => void expand(status).catch(() => {});
    full();
    const off = onLiveEvent((event) => {
      if (event === null) {
        asked.clear();
        return full();
      }
      if (event.repo_id !== repoId) return;
      if (!event.event_type.startsWith('stream.') && !event.event_type.startsWith('workspace.')) return;
      if (event.target_type !== 'stream' || !event.target_id) return full();
      pending.set(
        event.target_id,
        pending.get(event.target_id) === true || event.event_type === 'stream.created',
      );
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
  // The same functions and the same object until the board changes: the cards draw again only then.
  const want = useRef((id: string) => wantRef.current(id)).current;
  const expand = useRef((status: string) => expandRef.current(status)).current;
  return useMemo(() => ({ ...state, want, expand, settled }), [state, settled]);
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

const StreamCard = memo(function StreamCard({
  stream,
  consensus,
  agents,
  names,
  want,
}: StreamCardProps): Rendered {
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
});

interface ColumnProps {
  status: string;
  label: string;
  streams: Stream[];
  /** How many streams the column has in the repository (more than `streams` until shown in full). */
  count: number;
  consensus: Map<string, Consensus | null>;
  names: Map<string, string>;
  agents: Agents;
  want: (id: string) => void;
  expand: (status: string) => void;
}

const Column = memo(function Column({
  status,
  label,
  streams,
  count,
  consensus,
  names,
  agents,
  want,
  expand,
}: ColumnProps): Rendered {
  const [all, setAll] = useState(false);
  const shown = all ? streams : streams.slice(0, COLUMN_PAGE);
  const headingId = `col-${status}`;
  const showAll = () => {
    setAll(true);
    if (streams.length < count) expand(status);
  };
  return html`<section class="column" aria-labelledby=${headingId} data-column=${status}>
    <h3 id=${headingId}>${label} <span class="count">${count}</span></h3>
    <div class="cards-box">
      <ul class="cards">
        ${shown.map((stream) => html`<${StreamCard} key=${stream.id} stream=${stream} consensus=${consensus.get(stream.id)} agents=${agents} names=${names} want=${want} />`)}
      </ul>
      ${count > shown.length ? html`<button type="button" class="more" aria-busy=${all ? 'true' : undefined} onClick=${showAll}>${all ? 'Loading…' : `Show all ${count}`}</button>` : null}
    </div>
  </section>`;
});

/** The board's shape while it loads: the same height, so nothing below it moves when it arrives. */
function PendingBoard(): Rendered {
  return html`<div class="board">
    ${BOARD_COLUMNS.map(
      ([status, label]) => html`<section key=${status} class="column" aria-labelledby=${`col-${status}`}>
      <h3 id=${`col-${status}`}>${label} <span class="count">…</span></h3>
      <div class="cards-box"><${Loading} label="Loading streams…" /></div>
    </section>`,
    )}
  </div>`;
}

const Board = memo(function Board({ state, agents }: { state: BoardState; agents: Agents }): Rendered {
  return html`<${Section} title="Streams" id="streams">
    ${
      state.data === undefined && !state.error
        ? html`<${PendingBoard} />`
        : html`<${Loaded} state=${state} render=${(board: BoardData) => html`<div class="board">
      ${BOARD_COLUMNS.map(([status, label]) => html`<${Column} key=${status} status=${status} label=${label} streams=${board.byStatus.get(status)} count=${board.counts.get(status) ?? 0} consensus=${board.consensus} names=${board.names} agents=${agents} want=${state.want} expand=${state.expand} />`)}
    </div>`} />`
    }
  </${Section}>`;
});

/** Most nodes the dependency graph draws. */
const GRAPH_LIMIT = 60;

/** The stream dependency graph (forks): streams built on another stream, as nested lists from each root. */
/** The streams' names, states and parents (the same maps until a stream changes; not its consensus). */
type StreamFacts = Pick<BoardData, 'names' | 'statuses' | 'parents'>;

const DependencyPanel = memo(function DependencyPanel({
  board,
}: {
  board: StreamFacts | undefined;
}): Rendered {
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
});

async function loadBuffer(repoId: string): Promise<BufferHead & BufferLead> {
  const [head, lead] = await Promise.all([
    api<BufferHead>(`/repos/${repoId}/buffer-head`),
    loadBufferLead(repoId),
  ]);
  return { ...head, ...lead };
}

/** What every section below the board gets: the repository, and whether the first view is in. */
interface SectionProps {
  repoId: string;
  /** The board and its visible consensus have loaded: sections off screen load now (useWhenShown). */
  soon: boolean;
}

const BufferPanel = memo(function BufferPanel({
  repoId,
  soon,
  repo,
}: SectionProps & { repo: RepoDetail | undefined }): Rendered {
  const [ref, go] = useWhenShown(soon);
  const state = useResource(
    () => loadBuffer(repoId),
    [repoId],
    ofRepo(repoId, ['stream.merged', 'stream.reverted', 'buffer.']),
    { enabled: go },
  );
  // The sentence names the promotion target: it waits for the repository too.
  const both = { data: repo && state.data, error: state.error };
  return html`<${Section} sectionRef=${ref} title="Buffer vs main" id="buffer">
    <${Loaded} state=${both} render=${(b: BufferHead & BufferLead) => html`<div data-panel="buffer">
      <p><strong data-field="ahead">${plural(b.ahead, 'merge')}</strong>${b.merges.length > b.ahead ? ` (and ${b.merges.length - b.ahead} reverted)` : ''} in <code>${b.buffer_branch}</code> not yet promoted to <code>${repo?.promote_target}</code>.${' '}${b.buffer_head ? html`Buffer head <code>${shortSha(b.buffer_head)}</code>; ` : null}Last promotion ${b.lastPromotion ? html`<${Time} at=${b.lastPromotion.promoted_at} /> (<code>${shortSha(b.lastPromotion.to_commit)}</code>)` : 'never'}.</p>
      ${b.merges.length > 0 ? html`<ul class="plain">${b.merges.slice(0, 10).map((m) => html`<li key=${m.id}><a href=${`/streams/${m.target_id}`}>${String(m.metadata?.name ?? m.target_id)}</a> <span class="muted">merged <${Time} at=${m.created_at} />${m.reverted ? ', reverted' : ''}</span></li>`)}</ul>` : null}
    </div>`} />
  </${Section}>`;
});

const StabilizationPanel = memo(function StabilizationPanel({
  repoId,
  soon,
  board,
}: SectionProps & { board: StreamFacts | undefined }): Rendered {
  const [ref, go] = useWhenShown(soon);
  const state = useResource(
    async () =>
      (
        await api<{ stabilizations: StabilizationRecord[] }>(
          withQuery(`/repos/${repoId}/stabilize/history`, { limit: 30 }),
        )
      ).stabilizations,
    [repoId],
    ofRepo(repoId, ['buffer.stabilized', 'stream.reverted']),
    { enabled: go },
  );
  return html`<${Section} sectionRef=${ref} title="Stabilization" id="stabilization">
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
});

interface TasksData {
  tasks: Task[];
  budget: Budget | null;
  claims: Map<string, TaskClaim[]>;
}

async function loadTasks(repoId: string): Promise<TasksData> {
  const [tasks, budget] = await Promise.all([
    apiAll<Task>(`/repos/${repoId}/tasks`, 'tasks', { limit: LIST_PAGE }),
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

const TasksPanel = memo(function TasksPanel({
  repoId,
  soon,
  agents,
}: SectionProps & { agents: Agents }): Rendered {
  const [ref, go] = useWhenShown(soon);
  const state = useResource(
    () => loadTasks(repoId),
    [repoId],
    ofRepo(repoId, ['task.', 'bounty.', 'budget.']),
    { enabled: go },
  );
  return html`<${Section} sectionRef=${ref} title="Tasks and bounties" id="tasks">
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
});

type CouncilData = CouncilAnswer & { proposals: Proposal[] };

async function loadCouncil(repoId: string): Promise<CouncilData | null> {
  // Whether a council exists, from the log (asking for a missing one is a 404 in the console).
  const { activity } = await api<{ activity: ActivityEvent[] }>(
    withQuery(`/repos/${repoId}/activity`, { event_type: 'council.created', limit: 1 }),
  );
  if (activity.length === 0) return null;
  const [council, proposals] = await Promise.all([
    apiOr<CouncilAnswer, null>(`/repos/${repoId}/council`, null),
    apiOr<{ proposals: Proposal[] }, null>(`/repos/${repoId}/council/proposals`, null),
  ]);
  if (!council) return null;
  return { ...council, proposals: proposals?.proposals ?? [] };
}

const CouncilPanel = memo(function CouncilPanel({
  repoId,
  soon,
  agents,
}: SectionProps & { agents: Agents }): Rendered {
  const [ref, go] = useWhenShown(soon);
  const state = useResource(
    () => loadCouncil(repoId),
    [repoId],
    ofRepo(repoId, ['council.', 'proposal.', 'election.']),
    { enabled: go },
  );
  return html`<${Section} sectionRef=${ref} title="Council" id="council">
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
});

const STAGE_METRICS: ReadonlyArray<readonly ['contributors' | 'merged_streams' | 'maintainers', string]> = [
  ['contributors', 'Contributors'],
  ['merged_streams', 'Merged streams'],
  ['maintainers', 'Maintainers'],
];

const StagePanel = memo(function StagePanel({ repoId, soon }: SectionProps): Rendered {
  const [ref, go] = useWhenShown(soon);
  const state = useResource(
    async () => (await api<{ stage: StageStatus }>(`/repos/${repoId}/stage`)).stage,
    [repoId],
    ofRepo(repoId, ['stage.', 'stream.merged', 'maintainer.', 'council.']),
    { enabled: go },
  );
  return html`<${Section} sectionRef=${ref} title="Stage" id="stage">
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
});

const RepoActivity = memo(function RepoActivity({
  repoId,
  soon,
  agents,
  names,
}: SectionProps & { agents: Agents; names: Map<string, string> | undefined }): Rendered {
  const [ref, go] = useWhenShown(soon);
  // Loaded once; live events are the activity entries themselves, so they are added as they come.
  const state = useResource(
    async () =>
      (await api<{ activity: ActivityEvent[] }>(withQuery(`/repos/${repoId}/activity`, { limit: 30 })))
        .activity,
    [repoId],
    () => false,
    { enabled: go },
  );
  const live = useLiveEvents((event) => event.repo_id === repoId, 30);
  const seen = new Set<string>();
  const events = [...live, ...(state.data ?? [])]
    .filter((e) => !seen.has(e.id) && seen.add(e.id))
    .slice(0, 30);
  return html`<${Section} sectionRef=${ref} title="Recent activity" id="repo-activity" aside=${html`<a href=${`/activity?repo=${repoId}`}>All activity</a>`}>
    <${Loaded} state=${state} render=${() => html`<${ActivityList} events=${events} agents=${agents} streams=${names} />`} />
  </${Section}>`;
});

/** The repository's name and settings; a placeholder of the same lines while they load. */
const RepoHeading = memo(function RepoHeading({ repo }: { repo: RepoDetail | undefined }): Rendered {
  if (!repo) {
    return html`<h1>Repository</h1>
      <p class="lede loading" aria-busy="true">Loading…</p>`;
  }
  return html`<h1>${repo.name}</h1>
    <p class="lede">
      ${repoMode(repo)} · ${repo.is_private ? 'private' : 'public'} · ${repo.merge_mode} mode · ${repo.ownership_model} ownership ·
      consensus ${Math.round(repo.consensus_threshold * 100)}% with at least ${plural(repo.min_reviews, 'review')} · stage <strong>${repo.stage}</strong>
    </p>`;
});

/**
 * Every section mounts at once and asks for its own data with the repository's id (from the
 * path): the page's requests leave together instead of waiting for the repository's settings.
 */
export function RepoPage({ id }: { id: string }): Rendered {
  const agents = useAgents();
  const repoState = useResource(
    async () => (await api<{ repo: RepoDetail }>(`/repos/${id}`)).repo,
    [id],
    (event) => event.repo_id === id && ['repo.', 'stage.'].some((p) => event.event_type.startsWith(p)),
  );
  const board = useBoard(id);
  const names = board.data?.names;
  const statuses = board.data?.statuses;
  const parents = board.data?.parents;
  const facts = useMemo(
    () => (names && statuses && parents ? { names, statuses, parents } : undefined),
    [names, statuses, parents],
  );
  const repo = repoState.data;
  useTitle(repo ? repo.name : 'Repository');
  const soon = board.settled;
  // Unreadable or missing: the answer says why, and the sections have nothing to show.
  if (!repo && repoState.error) return html`<h1>Repository</h1><${ErrorBox} error=${repoState.error} />`;
  return html`<${RepoHeading} repo=${repo} />
    <${Board} state=${board} agents=${agents} />
    <div class="grid2">
      <${BufferPanel} repoId=${id} soon=${soon} repo=${repo} />
      <${StabilizationPanel} repoId=${id} soon=${soon} board=${facts} />
      <${DependencyPanel} board=${facts} />
      <${TasksPanel} repoId=${id} soon=${soon} agents=${agents} />
      <${CouncilPanel} repoId=${id} soon=${soon} agents=${agents} />
      <${StagePanel} repoId=${id} soon=${soon} />
      <${RepoActivity} repoId=${id} soon=${soon} agents=${agents} names=${names} />
    </div>`;
}
