/** Small pieces the pages share: times, states, the consensus bar, loading and error boxes. */

import { type ComponentChildren, type ComponentType, createElement, type Ref, type VNode } from 'preact';
import type { ApiError } from './api.js';
import { age, exactTime, percent } from './format.js';
import type { ResourceState } from './hooks.js';
import { html } from './html.js';
import type { Agent, Consensus } from './types.js';

/** What htm renders: a node, nodes, or nothing. */
export type Rendered = VNode | VNode[] | string | null;

/** A relative time with the exact one in its title and datetime. */
export interface TimeProps {
  at: string | null | undefined;
}

export function Time({ at }: TimeProps): Rendered {
  if (!at) return html`<span>—</span>`;
  return html`<time datetime=${at} title=${exactTime(at)}>${age(at)} ago</time>`;
}

/** A state as a labelled pill (its colour repeats the word; the word carries the meaning). */
export interface PillProps {
  state: string;
  label?: string;
}

export function Pill({ state, label }: PillProps): Rendered {
  return html`<span class=${`pill pill-${String(state).replace(/[^a-z_]/g, '')}`}>${label ?? state.replace('_', ' ')}</span>`;
}

/** A link to an agent's page, by name when known. */
export interface AgentLinkProps {
  id: string | null | undefined;
  agents?: Map<string, Agent>;
}

export function AgentLink({ id, agents }: AgentLinkProps): Rendered {
  if (!id) return html`<span>—</span>`;
  const name = agents?.get(id)?.name ?? id.slice(0, 8);
  return html`<a href=${`/agents/${id}`}>${name}</a>`;
}

/**
 * The consensus bar: approvals and rejections as shares of the verdicts, the threshold as a mark,
 * and the numbers behind it in words (stale verdicts counted apart).
 */
export interface ConsensusBarProps {
  /** undefined while loading, null when there are no verdicts. */
  consensus: Consensus | null | undefined;
}

export function ConsensusBar({ consensus }: ConsensusBarProps): Rendered {
  if (consensus === undefined) {
    // Same shape as the loaded bar: nothing moves when the numbers arrive.
    return html`<div class="consensus consensus-pending"><div class="bar" aria-hidden="true"></div><div class="numbers muted">consensus…</div></div>`;
  }
  if (!consensus) return html`<div class="consensus consensus-empty">no verdicts yet</div>`;
  const { approvals, rejections, threshold, ratio, min_reviews: minReviews, reached } = consensus;
  const total = approvals + rejections;
  // The bar is the ratio the consensus model computes (weighted by karma and human review), not a
  // head count: the numbers beside it say how many verdicts there are.
  const approveShare = total > 0 ? ratio * 100 : 0;
  const rejectShare = total > 0 && rejections > 0 ? (1 - ratio) * 100 : 0;
  const stale = consensus.stale_approvals + consensus.stale_rejections;
  return html`<div class="consensus">
    <div class="bar" aria-hidden="true">
      <span class="bar-approve" style=${`width:${approveShare}%`}></span>
      <span class="bar-reject" style=${`width:${rejectShare}%`}></span>
      <span class="bar-threshold" style=${`left:${threshold * 100}%`}></span>
    </div>
    <div class="numbers">
      <span class="approvals">${approvals} approve</span>${' · '}
      <span class="rejections">${rejections} reject</span>${' · '}
      <span>${percent(ratio)} of ${percent(threshold)} needed</span>${' · '}
      <span>${total}/${minReviews} reviews</span>
      ${stale > 0 ? html` · <span class="stale">${stale} stale (${consensus.stale_reviews === 'dismiss' ? 'not counted' : 'counted'})</span>` : null}
      ${reached ? html` · <strong class="reached">consensus</strong>` : null}
    </div>
  </div>`;
}

/** A placeholder of fixed height while a section loads (so nothing jumps when it arrives). */
export interface LoadingProps {
  label?: string;
}

export function Loading({ label = 'Loading…' }: LoadingProps): Rendered {
  return html`<p class="loading" aria-busy="true">${label}</p>`;
}

/** An error answer, said plainly; 401 on a private repository asks for a key. */
export interface ErrorBoxProps {
  error: unknown;
}

export function ErrorBox({ error: thrown }: ErrorBoxProps): Rendered {
  const error = thrown as Partial<ApiError> | null | undefined;
  const needsKey = error?.status === 401;
  return html`<div class="error" role="alert">
    <strong>${error?.code ?? 'error'}:</strong> ${error?.message ?? String(error)}
    ${needsKey ? html`<p>Enter an API key above to read private repositories.</p>` : null}
  </div>`;
}

/** A titled section of a page. */
export interface SectionProps {
  title: string;
  id: string;
  children?: ComponentChildren;
  aside?: ComponentChildren;
  /** The section's element, for a section that loads when shown (useWhenShown). */
  sectionRef?: Ref<HTMLElement>;
}

export function Section({ title, id, children, aside, sectionRef }: SectionProps): Rendered {
  return html`<section class="panel" aria-labelledby=${id} ref=${sectionRef}>
    <header class="panel-head"><h2 id=${id}>${title}</h2>${aside ?? null}</header>
    ${children}
  </section>`;
}

/** Renders `state` of useResource: loading, error, or `render(data)`. */
export interface LoadedProps<T> {
  state: ResourceState<T>;
  render: (data: T) => Rendered;
  label?: string;
}

export function Loaded<T>({ state, render, label }: LoadedProps<T>): Rendered {
  if (state.data === undefined)
    return state.error ? html`<${ErrorBox} error=${state.error} />` : html`<${Loading} label=${label} />`;
  return render(state.data);
}

/** Whether two props objects differ in any value (by identity). */
function propsDiffer(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  for (const name in a) if (name !== 'children' && !(name in b)) return true;
  for (const name in b) if (name !== 'children' && a[name] !== b[name]) return true;
  return false;
}

/**
 * `component`, rendered again only when a prop changes (by identity) or its own state does: a page
 * whose sections load one by one must not draw every section again for each answer.
 */
export function memo<P extends object>(component: (props: P) => Rendered): ComponentType<P> {
  function Memoed(this: { props: P; shouldComponentUpdate?: (next: P) => boolean }, props: P) {
    this.shouldComponentUpdate = (next) =>
      propsDiffer(this.props as Record<string, unknown>, next as Record<string, unknown>);
    return createElement(component as ComponentType<P>, props);
  }
  return Memoed as unknown as ComponentType<P>;
}
