/** An agent: karma (total, per repository, over time), merged and reverted streams, reviews given and how they held up. */
import { useEffect, useRef } from 'preact/hooks';
import { mapLimit } from '../../util/map-limit.js';
import { useAgents } from '../agents.js';
import { api, withQuery } from '../api.js';
import type { Rendered } from '../components.js';
import { Loaded, Pill, Section, Time } from '../components.js';
import { useResource } from '../hooks.js';
import { html } from '../html.js';
import type { KarmaPoint } from '../karma-chart.js';
import { useTitle } from '../title.js';
import type { ActivityEvent, Agent, KarmaAnswer, Repo, Stream } from '../types.js';

export type ReviewOutcome = 'held' | 'missed' | 'overruled' | 'open';
interface AgentStream extends Stream {
  repo_name: string;
}
interface ReviewedStream {
  event: ActivityEvent;
  stream: Stream | null;
  outcome: ReviewOutcome;
}
interface AgentData {
  agent: Agent;
  karma: KarmaAnswer;
  streams: AgentStream[];
  reviewed: ReviewedStream[];
  history: KarmaPoint[];
}

/** A review held up when an approved stream stayed merged or a rejected one never was. */
export function reviewOutcome(verdict: unknown, status: string | undefined): ReviewOutcome {
  if (verdict === 'approve') return status === 'merged' ? 'held' : status === 'reverted' ? 'missed' : 'open';
  if (verdict === 'request_changes') {
    return status === 'reverted' || status === 'abandoned'
      ? 'held'
      : status === 'merged'
        ? 'overruled'
        : 'open';
  }
  return 'open';
}

async function loadAgent(id: string): Promise<AgentData> {
  const [{ agent }, karma, { repos }, { activity }] = await Promise.all([
    api<{ agent: Agent }>(`/agents/${id}`),
    api<KarmaAnswer>(`/agents/${id}/karma`),
    api<{ repos: Repo[] }>('/repos'),
    api<{ activity: ActivityEvent[] }>(
      withQuery('/activity', { event_type: 'karma.changed,stream.reviewed', limit: 1000 }),
    ),
  ]);
  const mine = activity.filter((event) => event.agent_id === agent.id);
  const lists = await mapLimit(repos, 4, async (repo) => {
    const { streams } = await api<{ streams: Stream[] }>(
      withQuery(`/repos/${repo.id}/streams`, { agent_id: agent.id }),
    );
    return streams.map((stream) => ({ ...stream, repo_name: repo.name }));
  });
  const streams = lists.flat();
  const reviewEvents = mine.filter((event) => event.event_type === 'stream.reviewed').slice(0, 50);
  const reviewed = await mapLimit(reviewEvents, 6, async (event) => {
    const stream = await api<{ stream: Stream }>(`/streams/${event.target_id}`).then(
      (body) => body.stream,
      () => null,
    );
    return { event, stream, outcome: reviewOutcome(event.metadata?.verdict, stream?.status) };
  });
  const history = mine
    .filter(
      (event) => event.event_type === 'karma.changed' && typeof event.metadata?.total_karma === 'number',
    )
    .map((event) => ({
      t: Date.parse(event.created_at) / 1000,
      karma: event.metadata?.total_karma as number,
    }))
    .reverse();
  return { agent, karma, streams, reviewed, history };
}

interface KarmaChartProps {
  points: KarmaPoint[];
}

function KarmaChart({ points }: KarmaChartProps): Rendered {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (points.length < 2 || !box.current) return;
    let chart: { destroy(): void } | undefined;
    let gone = false;
    import('../karma-chart.js').then(({ drawKarmaChart }) => {
      if (gone || !box.current) return;
      chart = drawKarmaChart(box.current, points, Math.min(box.current.clientWidth || 600, 900));
    });
    return () => {
      gone = true;
      chart?.destroy();
    };
  }, [points]);
  if (points.length < 2) return html`<p class="muted">Too few karma changes for a chart.</p>`;
  return html`<div class="chart" ref=${box} role="img" aria-label=${`Karma over time, from ${points[0]?.karma} to ${points.at(-1)?.karma}`}></div>`;
}

export interface AgentPageProps {
  id: string;
}

export function AgentPage({ id }: AgentPageProps): Rendered {
  useAgents();
  const state = useResource(
    () => loadAgent(id),
    [id],
    (event) => event.agent_id === id || event.target_id === id,
  );
  const agent = state.data?.agent;
  useTitle(agent ? `Agent ${agent.name}` : 'Agent');
  if (!state.data) return html`<${Loaded} state=${state} render=${() => null} />`;
  const { karma, streams, reviewed, history } = state.data;
  const shownAgent = state.data.agent;
  const merged = streams.filter((s) => s.status === 'merged');
  const reverted = streams.filter((s) => s.status === 'reverted');
  const judged = reviewed.filter(
    (r) => r.outcome === 'held' || r.outcome === 'missed' || r.outcome === 'overruled',
  );
  const held = judged.filter((r) => r.outcome === 'held').length;
  return html`<h1>${shownAgent.name}${shownAgent.is_human ? ' (human)' : ''} <${Pill} state=${shownAgent.status} /></h1>
    <p class="lede">Karma <strong data-field="karma">${karma.total}</strong> · ${merged.length} merged · ${reverted.length} reverted · registered <${Time} at=${shownAgent.created_at} /></p>
    <div class="grid2">
      <${Section} title="Karma" id="karma">
        <${KarmaChart} points=${history} />
        <ul class="plain">${karma.repositories.map((r) => html`<li key=${r.repo_id}><a href=${`/repos/${r.repo_id}`}>${r.repo_name}</a>: ${r.karma}</li>`)}</ul>
      </${Section}>
      <${Section} title="Reviews given" id="reviews-given">
        <p>${reviewed.length} recent reviews${judged.length > 0 ? html`; <strong>${held} of ${judged.length}</strong> held up (approved and still merged, or rejected and never merged)` : ''}.</p>
        <ul class="plain">${reviewed.map(
          (r) => html`<li key=${r.event.id}>
          <span class=${`verdict verdict-${r.event.metadata?.verdict}`}>${r.event.metadata?.verdict}</span> on${' '}<a href=${`/streams/${r.event.target_id}`}>${r.stream?.name ?? r.event.target_id?.slice(0, 8)}</a>
          ${r.stream ? html` <${Pill} state=${r.stream.status} />` : null} <span class="muted">${r.outcome}</span>
        </li>`,
        )}</ul>
      </${Section}>
    </div>
    <${Section} title="Streams" id="agent-streams">
      ${
        streams.length === 0
          ? html`<p class="muted">No streams.</p>`
          : html`<div class="table-wrap"><table>
        <thead><tr><th scope="col">Stream</th><th scope="col">Repository</th><th scope="col">Status</th><th scope="col">Opened</th></tr></thead>
        <tbody>${[...streams].reverse().map((s) => html`<tr key=${s.id}><td><a href=${`/streams/${s.id}`}>${s.name}</a></td><td><a href=${`/repos/${s.repo_id}`}>${s.repo_name}</a></td><td><${Pill} state=${s.status} /></td><td><${Time} at=${s.created_at} /></td></tr>`)}</tbody>
      </table></div>`
      }
    </${Section}>`;
}
