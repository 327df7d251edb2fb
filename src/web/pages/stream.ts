/** A stream: its state, consensus, reviews (stale ones marked), commits, conflict paths, diff and activity. */
import { useEffect, useState } from 'preact/hooks';

import { useAgents } from '../agents.js';
import type { ApiError } from '../api.js';
import { api, apiOr, withQuery } from '../api.js';
import type { Rendered } from '../components.js';
import { AgentLink, ConsensusBar, Loaded, Loading, Pill, Section, Time } from '../components.js';
import { shortSha } from '../format.js';
import { useResource } from '../hooks.js';
import { html } from '../html.js';
import { useTitle } from '../title.js';
import type {
  ActivityEvent,
  Agent,
  ConflictsAnswer,
  Consensus,
  Repo,
  ReviewsAnswer,
  Stream,
  StreamCommit,
} from '../types.js';
import { ActivityList } from './activity.js';

interface StreamData {
  stream: Stream;
  repo: Repo;
  commits: StreamCommit[];
  reviews: ReviewsAnswer;
  consensus: Consensus | null;
  conflicts: ConflictsAnswer | null;
}
type DiffAnswer = { diff: string; unavailable?: undefined } | { unavailable: string; diff?: undefined };

async function loadStream(id: string): Promise<StreamData> {
  const { stream } = await api<{ stream: Stream }>(`/streams/${id}`);
  const [commits, reviews, consensus, conflicts, repo] = await Promise.all([
    api<{ commits: StreamCommit[] }>(`/streams/${id}/commits`),
    api<ReviewsAnswer>(`/streams/${id}/reviews`),
    apiOr<{ consensus: Consensus }, null>(`/streams/${id}/consensus`, null, [404, 409]),
    stream.status === 'conflicted'
      ? apiOr<ConflictsAnswer, null>(`/streams/${id}/conflicts`, null, [404, 409])
      : null,
    api<{ repo: Repo }>(`/repos/${stream.repo_id}`),
  ]);
  return {
    stream,
    repo: repo.repo,
    commits: commits.commits,
    reviews,
    consensus: consensus?.consensus ?? null,
    conflicts,
  };
}

/** The diff against the buffer; a Mode B repository has no clone on the server, so none is asked for. */
async function loadDiff(id: string, repo: Repo | undefined): Promise<DiffAnswer | undefined> {
  if (!repo) return undefined;
  if (!repo.server_git) {
    return {
      unavailable:
        'The server holds no clone of this repository (Mode B): the diff is in the agents’ clones.',
    };
  }
  try {
    return { diff: (await api<{ diff: string }>(`/streams/${id}/diff/full`)).diff };
  } catch (error) {
    if ((error as ApiError).status === 409) return { unavailable: (error as ApiError).message };
    throw error;
  }
}

/** The diff view, loaded with its highlighter only when a stream page shows a diff (not in the first load). */
interface LazyDiffProps {
  text: string;
}

function LazyDiff({ text }: LazyDiffProps): Rendered {
  const [module, setModule] = useState<typeof import('../diff.js') | null>(null);
  useEffect(() => {
    import('../diff.js').then((loaded) => setModule(loaded));
  }, []);
  if (!module) return html`<${Loading} label="Loading diff…" />`;
  return html`<${module.DiffView} text=${text} />`;
}

async function loadStreamActivity(stream: Stream): Promise<ActivityEvent[]> {
  const { activity } = await api<{ activity: ActivityEvent[] }>(
    withQuery(`/repos/${stream.repo_id}/activity`, { limit: 1000 }),
  );
  return activity.filter((event) => event.target_id === stream.id || event.metadata?.stream_id === stream.id);
}

const concerns =
  (id: string) =>
  (event: ActivityEvent): boolean =>
    event.target_id === id || event.metadata?.stream_id === id;

interface ReviewsProps {
  reviews: ReviewsAnswer;
  agents: Map<string, Agent>;
}

function Reviews({ reviews, agents }: ReviewsProps): Rendered {
  if (reviews.reviews.length === 0) return html`<p class="muted">No reviews yet.</p>`;
  return html`<ul class="plain reviews">${reviews.reviews.map(
    (
      review,
    ) => html`<li key=${review.id} class=${review.stale ? 'review stale-review' : 'review'} data-reviewer=${review.reviewer_name ?? review.reviewer_id}>
    <span class=${`verdict verdict-${review.verdict}`}>${review.verdict.replace('_', ' ')}</span>${' '}by <${AgentLink} id=${review.reviewer_id} agents=${agents} />${review.is_human ? ' (human)' : ''}${review.tested ? ' · tested' : ''} · <${Time} at=${review.reviewed_at} /> on <code>${shortSha(review.head_commit)}</code>
    ${review.stale ? html` <span class="stale">stale: the code changed since${reviews.stale_reviews === 'dismiss' ? ', not counted' : ''}</span>` : null}
    ${review.feedback ? html`<blockquote>${review.feedback}</blockquote>` : null}
  </li>`,
  )}</ul>`;
}

interface CommitsProps {
  commits: StreamCommit[];
  agents: Map<string, Agent>;
}

function Commits({ commits, agents }: CommitsProps): Rendered {
  if (commits.length === 0) return html`<p class="muted">No commits recorded.</p>`;
  return html`<ol class="plain commits">${commits.map(
    (c) => html`<li key=${c.id}>
    <code>${shortSha(c.commit_hash)}</code> ${c.message?.split('\n')[0] ?? ''} <span class="muted">by <${AgentLink} id=${c.agent_id} agents=${agents} />, <${Time} at=${c.created_at} /></span>
  </li>`,
  )}</ol>`;
}

interface ConflictProps {
  stream: Stream;
  conflicts: ConflictsAnswer | null;
}

function Conflict({ stream, conflicts }: ConflictProps): Rendered {
  const paths = conflicts?.paths?.map((p) => p.path) ?? stream.conflict?.paths ?? [];
  if (paths.length === 0) return null;
  return html`<${Section} title="Conflict" id="conflict">
    <p>${stream.conflict ? `A ${stream.conflict.operation} onto ${shortSha(stream.conflict.onto)} conflicted` : 'Conflicted'} in:</p>
    <ul class="plain conflict-list">${paths.map((path) => html`<li key=${path}><code>${path}</code></li>`)}</ul>
  </${Section}>`;
}

export interface StreamPageProps {
  id: string;
}

export function StreamPage({ id }: StreamPageProps): Rendered {
  const agents = useAgents();
  const state = useResource(() => loadStream(id), [id], concerns(id));
  const repoOfStream = state.data?.repo;
  const diff = useResource(
    () => loadDiff(id, repoOfStream),
    [id, repoOfStream?.id],
    (event) => concerns(id)(event) && /committed|merged|rebased|updated|reverted/.test(event.event_type),
  );
  const loadedStream = state.data?.stream;
  const activity = useResource(
    () => (loadedStream ? loadStreamActivity(loadedStream) : Promise.resolve([])),
    [loadedStream?.repo_id, id],
    concerns(id),
  );
  useTitle(loadedStream ? `Stream ${loadedStream.name}` : 'Stream');
  if (!state.data) return html`<${Loaded} state=${state} render=${() => null} />`;
  const { stream, repo, commits, reviews, consensus, conflicts } = state.data;
  return html`<p class="crumbs"><a href=${`/repos/${repo.id}`}>${repo.name}</a> /</p>
    <h1>${stream.name} <${Pill} state=${stream.status} /></h1>
    <p class="lede">by <${AgentLink} id=${stream.agent_id} agents=${agents} /> · opened <${Time} at=${stream.created_at} /> · branch <code>${stream.branch}</code>
      ${stream.parent_stream_id ? html` · on <a href=${`/streams/${stream.parent_stream_id}`}>its parent stream</a>` : null}
      ${stream.review_status ? html` · review ${stream.review_status}` : null}</p>
    <${Section} title="Consensus" id="consensus"><${ConsensusBar} consensus=${consensus} />${consensus ? html`<p class="muted">${consensus.reason}</p>` : null}</${Section}>
    <${Conflict} stream=${stream} conflicts=${conflicts} />
    <div class="grid2">
      <${Section} title="Reviews" id="reviews"><${Reviews} reviews=${reviews} agents=${agents} /></${Section}>
      <${Section} title="Commits" id="commits"><${Commits} commits=${commits} agents=${agents} /></${Section}>
    </div>
    <${Section} title="Diff against the buffer" id="diff">
      <${Loaded} state=${diff} label="Loading diff…" render=${(d: DiffAnswer | undefined) => (d?.unavailable ? html`<p class="muted">${d.unavailable}</p>` : html`<${LazyDiff} text=${d?.diff} />`)} />
    </${Section}>
    <${Section} title="Activity" id="stream-activity">
      <${Loaded} state=${activity} render=${(events: ActivityEvent[]) => html`<${ActivityList} events=${events} agents=${agents} streams=${new Map([[stream.id, stream.name]])} />`} />
    </${Section}>`;
}
