/**
 * The dashboard's benchmark (docs/dashboard.md), in headless Chromium (Debian's /usr/bin/chromium
 * driven by playwright-core) against `gitswarm serve` on SQLite in a temporary data dir:
 *  - load: the repository page of a repository with 1,000 streams (active, in review with
 *    reviews, abandoned) and 10,000 activity events, from navigation to "data loaded and
 *    interactive": every section rendered, no loading placeholder left. Median of BENCH_WEB_RUNS
 *    warm loads (assets cached, as on a second visit), and the first (cold) load apart.
 *    Target: ≤ 300 ms.
 *  - live: a stream in review abandoned through the API until its card leaves the page's In
 *    review column (a MutationObserver in the page timestamps it; the API call is included).
 *    p50 and p95 of BENCH_WEB_EVENTS such events over the WebSocket. Target: p50 ≤ 100 ms.
 * Run: `npm run build && node dist/bench/web.js` (BENCH_WEB_DEBUG=1 also prints the last load's
 * request timeline).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { recordActivity } from '../src/core/activity.js';
import { startServer } from '../src/server/serve.js';

const CHROMIUM = '/usr/bin/chromium';
const STREAMS = Number(process.env.BENCH_WEB_STREAMS ?? 1000);
const EVENTS = Number(process.env.BENCH_WEB_ACTIVITY ?? 10_000);
const RUNS = Number(process.env.BENCH_WEB_RUNS ?? 7);
const LIVE_EVENTS = Number(process.env.BENCH_WEB_EVENTS ?? 20);
const TARGETS = { loadMs: 300, liveP50Ms: 100 };
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

interface Agent {
  id: string;
  key: string;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN;
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    console.log(`bench web: ${CHROMIUM} is absent; nothing measured.`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'gitswarm-bench-web-'));
  const server = await startServer({
    port: 0,
    dataDir: join(dir, 'data'),
    handleSignals: false,
    logger: false,
    app: { rateLimit: false, notifications: false },
  });
  const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
  });
  try {
    const call = async (method: string, path: string, agent: Agent | null, body?: unknown) => {
      const response = await fetch(`${server.url}/api/v1${path}`, {
        method,
        headers: {
          ...(agent ? { authorization: `Bearer ${agent.key}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const answer = (await response.json()) as {
        agent: { id: string };
        repo: { id: string };
        api_key: string;
      };
      if (response.status >= 300)
        throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
      return answer;
    };
    const seedStart = performance.now();
    const agents: Agent[] = [];
    for (let i = 0; i < 12; i += 1) {
      const body = await call('POST', '/agents', null, { name: `bench-agent-${i}` });
      agents.push({ id: body.agent.id, key: body.api_key });
    }
    const owner = agents[0] as Agent;
    const repo = (
      await call('POST', '/repos', owner, { name: 'big-swarm', ownership_model: 'open', min_reviews: 2 })
    ).repo;
    const streamIds: string[] = [];
    for (let i = 0; i < STREAMS; i += 1) {
      const author = agents[i % agents.length] as Agent;
      const id = `bench-${String(i).padStart(4, '0')}`;
      await call('POST', `/repos/${repo.id}/streams`, author, { id, name: `change-${i}` });
      streamIds.push(id);
      // Four in ten go to review, one in ten is abandoned; the rest stay active.
      if (i % 10 < 4) {
        await call('POST', `/streams/${id}/submit`, author, {});
        if (i % 10 < 2) {
          const reviewer = agents[(i + 1) % agents.length] as Agent;
          await call('POST', `/streams/${id}/reviews`, reviewer, {
            verdict: i % 3 ? 'approve' : 'request_changes',
          });
        }
      } else if (i % 10 === 9) {
        await call('DELETE', `/streams/${id}`, author);
      }
    }
    // The rest of the activity as the core records it (commits on the streams), straight into the store.
    const deps = server.app.deps;
    const { activity } = (await (
      await fetch(`${server.url}/api/v1/repos/${repo.id}/activity?limit=1000`)
    ).json()) as { activity: unknown[] };
    let recorded = activity.length;
    const counted = recorded >= 1000 ? Number.NaN : recorded;
    for (let i = 0; recorded < EVENTS; i += 1, recorded += 1) {
      const author = agents[i % agents.length] as Agent;
      await recordActivity(deps, deps.store.db, {
        event: 'stream.committed',
        repoId: repo.id,
        agentId: author.id,
        targetType: 'stream',
        targetId: streamIds[i % streamIds.length] as string,
        metadata: { commit: i.toString(16).padStart(40, '0') },
      });
    }
    console.log(
      `bench web: seeded ${STREAMS} streams and ${EVENTS} activity events (${Number.isNaN(counted) ? '≥1000' : counted} through the API) in ${Math.round(performance.now() - seedStart)} ms`,
    );

    // Load: navigation start to every section loaded.
    // A function, not a string: the dashboard's CSP allows no eval, and waitForFunction would eval a string.
    const ready = () => {
      const doc = (globalThis as unknown as { document: { querySelector(selector: string): unknown } })
        .document;
      return Boolean(
        doc.querySelector('[data-column="in_review"] .card') &&
          doc.querySelector('[data-panel="buffer"]') &&
          doc.querySelector('[data-panel="stage"]') &&
          doc.querySelector('#repo-activity') &&
          !doc.querySelector('.loading') &&
          !doc.querySelector('[data-visible] .consensus-pending'),
      );
    };
    const loads: number[] = [];
    for (let run = 0; run <= RUNS; run += 1) {
      const page = await context.newPage();
      await page.goto(`${server.url}/repos/${repo.id}`);
      await page.waitForFunction(ready, undefined, { polling: 'raf', timeout: 30_000 });
      loads.push((await page.evaluate('performance.now()')) as number);
      if (process.env.BENCH_WEB_DEBUG && run === RUNS) {
        console.log(
          'paint',
          await page.evaluate(
            `JSON.stringify(performance.getEntriesByType('paint').map((e) => [e.name, Math.round(e.startTime)]))`,
          ),
        );
        console.log(
          await page.evaluate(
            `JSON.stringify(performance.getEntriesByType('resource').map((e) => [Math.round(e.startTime), Math.round(e.responseEnd), e.name.split('/api/v1').pop().slice(0, 70)]))`,
          ),
        );
      }
      await page.close();
    }
    const [cold, ...warm] = loads as [number, ...number[]];

    // Live: an abandonment through the API until the page shows it, over the WebSocket.
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    await page.evaluate(`sessionStorage.setItem('gitswarm.apiKey', ${JSON.stringify(owner.key)})`);
    await page.goto(`${server.url}/repos/${repo.id}`);
    await page.bringToFront();
    await page.waitForSelector('[data-live="live"]');
    await page.waitForFunction(ready, undefined, { polling: 'raf', timeout: 30_000 });
    const cards = (await page
      .locator('[data-column="in_review"] [data-stream]')
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-stream')))) as string[];
    const latencies: number[] = [];
    for (let i = 0; i < Math.min(LIVE_EVENTS, cards.length); i += 1) {
      const name = cards[i] as string;
      const id = `bench-${name.replace('change-', '').padStart(4, '0')}`;
      await page.evaluate(`window.__seen = undefined; (() => {
        const resolve = (at) => { window.__seen = at; };
        const card = () => document.querySelector('[data-column="in_review"] [data-stream="${name}"]');
        const observer = new MutationObserver(() => {
          if (!card()) {
            observer.disconnect();
            resolve(performance.timeOrigin + performance.now());
          }
        });
        observer.observe(document.querySelector('.board'), { subtree: true, childList: true, characterData: true });
      })()`);
      // Its author abandons the stream: its card leaves the In review column.
      const author = agents[Number(name.replace('change-', '')) % agents.length] as Agent;
      const start = performance.timeOrigin + performance.now();
      await call('DELETE', `/streams/${id}`, author);
      // Polled from here (the page stamped the time itself); a pending evaluate would hold the page up.
      let seen = Number.NaN;
      const deadline = performance.now() + 5000;
      while (performance.now() < deadline) {
        const at = (await page.evaluate('window.__seen ?? null')) as number | null;
        if (at !== null) {
          seen = at;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (Number.isNaN(seen)) throw new Error(`the abandonment of ${name} did not reach the page within 5 s`);
      latencies.push(seen - start);
    }
    await page.close();

    const warmMedian = quantile(warm, 0.5);
    const p50 = quantile(latencies, 0.5);
    const p95 = quantile(latencies, 0.95);
    console.log(
      `bench web: repository page (${STREAMS} streams, ${EVENTS} events) data loaded to interactive: ` +
        `median ${Math.round(warmMedian)} ms over ${warm.length} warm loads (min ${Math.round(Math.min(...warm))}, max ${Math.round(Math.max(...warm))}); ` +
        `cold ${Math.round(cold)} ms; target ≤ ${TARGETS.loadMs} ms`,
    );
    console.log(
      `bench web: live event, API call to the page: p50 ${Math.round(p50)} ms, p95 ${Math.round(p95)} ms over ${latencies.length} events; target p50 ≤ ${TARGETS.liveP50Ms} ms`,
    );
  } finally {
    await context.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
