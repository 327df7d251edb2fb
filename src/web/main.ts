/**
 * The dashboard: a read-only view of the API (src/server/routes) with live updates from the
 * WebSocket. Entry point of the browser bundle (scripts/bundle-web.mjs).
 */
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, apiKey, onApiKeyChange, setApiKey } from './api.js';
import { useLiveStatus } from './hooks.js';
import { html } from './html.js';
import { ActivityPage } from './pages/activity.js';
import { AgentPage } from './pages/agent.js';
import { RepoPage } from './pages/repo.js';
import { ReposPage } from './pages/repos.js';
import { StreamPage } from './pages/stream.js';
import { interceptLinks, useRoute } from './router.js';
import type { Agent, LiveStatus as LiveState, PageName } from './types.js';

const STATUS_TEXT: Record<LiveState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  polling: 'Live (polling, public)',
  offline: 'Connection lost; reconnecting…',
};

function LiveStatus() {
  const status = useLiveStatus();
  return html`<p class=${`live live-${status}`} role="status" aria-live="polite" data-live=${status}>
    <span class="dot" aria-hidden="true"></span>${STATUS_TEXT[status]}
  </p>`;
}

/** The API key form: the key stays in this tab's sessionStorage and is sent as a header. */
function KeyForm() {
  const [key, setKey] = useState(apiKey());
  const [agent, setAgent] = useState<Agent | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => onApiKeyChange(setKey), []);
  useEffect(() => {
    setAgent(null);
    setProblem(null);
    if (!key) return;
    api<{ agent?: Agent } & Agent>('/me').then(
      (body) => setAgent(body.agent ?? body),
      (error: Error) => setProblem(error.message),
    );
  }, [key]);
  if (key) {
    return html`<div class="key">
      <span>${agent ? html`Reading as <a href=${`/agents/${agent.id}`}>${agent.name}</a>` : problem ? html`<span class="error-text">${problem}</span>` : 'Key set'}</span>
      <button type="button" onClick=${() => setApiKey(null)}>Forget key</button>
    </div>`;
  }
  const submit = (event: SubmitEvent): void => {
    event.preventDefault();
    const value = input.current?.value.trim() ?? '';
    if (value) setApiKey(value);
  };
  return html`<form class="key" onSubmit=${submit}>
    <label for="api-key">API key <span class="hint">(private repositories; kept in this tab only)</span></label>
    <input id="api-key" ref=${input} type="password" autocomplete="off" spellcheck="false" placeholder="gs_…" />
    <button type="submit">Use key</button>
  </form>`;
}

const PAGES: Partial<Record<PageName, (props: { id: string }) => unknown>> = {
  repos: ReposPage,
  repo: RepoPage,
  stream: StreamPage,
  agent: AgentPage,
  activity: ActivityPage,
};

function NotFound() {
  return html`<h1>Not found</h1><p>No such page. <a href="/">Repositories</a></p>`;
}

function App() {
  const route = useRoute();
  const [keyVersion, setKeyVersion] = useState(0);
  useEffect(() => onApiKeyChange(() => setKeyVersion((v) => v + 1)), []);
  const main = useRef<HTMLElement>(null);
  // After an in-app navigation, focus moves to the page (as a reload would) for keyboard users.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus();
  }, [route.page, route.id]);
  const Page = PAGES[route.page] ?? NotFound;
  return html`
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <nav aria-label="Main">
        <a class="brand" href="/">GitSwarm</a>
        <a href="/" aria-current=${route.page === 'repos' ? 'page' : undefined}>Repositories</a>
        <a href="/activity" aria-current=${route.page === 'activity' ? 'page' : undefined}>Activity</a>
      </nav>
      <${LiveStatus} />
      <${KeyForm} />
    </header>
    <main id="main" ref=${main} tabindex="-1">
      <${Page} key=${`${keyVersion}:${route.page}:${route.id ?? ''}`} id=${route.id} />
    </main>`;
}

interceptLinks(document.body);
render(html`<${App} />`, document.getElementById('app') as HTMLElement);
