/**
 * The dashboard in a real browser: a server started as `gitswarm serve` starts it (startServer),
 * seeded through its API with a small swarm (test/web/seed.ts), each page opened in Debian's
 * chromium through playwright-core and checked for the facts it shows, for console errors and with
 * axe-core (no serious or critical violations). A review and a merge made through the API appear
 * without a reload; a dropped WebSocket is shown and resumed. Screenshots go to test-artifacts/web/;
 * with UPDATE_DASHBOARD_PNG=1 the repository page's also to docs/dashboard.png (the README's picture).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { startTestApp } from '../server/helpers.js';
import { apiClient, type Seeded, seedSwarm } from './seed.js';

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../..', import.meta.url));
const artifacts = join(root, 'test-artifacts', 'web');
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.log(`[gitswarm tests] ${CHROMIUM} is absent: the dashboard browser tests are skipped.`);

/** Flags without which chromium stalls on a closed network (it tries to reach Google at start-up). */
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
const FIRST_LOAD_BUDGET = 150 * 1024;

let server: RunningServer;
let seeded: Seeded;
let context: BrowserContext;
const dir = mkdtempSync(join(tmpdir(), 'gitswarm-web-'));
const webDir = join(dir, 'web');
/** Console errors and uncaught exceptions of every page, checked at the end. */
const consoleErrors: string[] = [];

beforeAll(async () => {
  // The dashboard as `npm run build` makes it, into a directory of this test's own.
  execFileSync(process.execPath, [join(root, 'scripts', 'bundle-web.mjs'), webDir], { stdio: 'pipe' });
  server = await startServer({
    port: 0,
    dataDir: join(dir, 'data'),
    handleSignals: false,
    logger: false,
    app: { web: { dir: webDir } },
  });
  seeded = await seedSwarm(server.url);
  if (hasChromium) {
    mkdirSync(artifacts, { recursive: true });
    context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 800 },
    });
  }
}, 60_000);

afterAll(async () => {
  await context?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('serving the dashboard', () => {
  it('serves index.html at / and the page paths, hashed assets as immutable and precompressed, and leaves the API alone', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const text = await page.text();
    const script = /src="(\/assets\/main-[\w-]+\.js)"/.exec(text)?.[1] as string;
    expect(script).toBeDefined();
    for (const path of ['/activity', `/repos/${seeded.repo.id}`, '/streams/x', '/agents/y']) {
      const again = await fetch(`${server.url}${path}`);
      expect({ path, status: again.status, body: await again.text() }).toEqual({
        path,
        status: 200,
        body: text,
      });
    }
    const asset = await fetch(`${server.url}${script}`, { headers: { 'accept-encoding': 'br' } });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('content-encoding')).toBe('br');
    const plain = await fetch(`${server.url}${script}`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect((await plain.text()).length).toBeGreaterThan(1000);

    // Only the page paths fall back to index.html; the API, /docs and /healthz answer as before.
    const missing = await fetch(`${server.url}/nowhere/at/all`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/json');
    expect((await fetch(`${server.url}/assets/nothing.js`)).status).toBe(404);
    expect(
      ((await (await fetch(`${server.url}/api/v1/repos`)).json()) as { repos: unknown[] }).repos,
    ).toHaveLength(2);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/docs/`)).headers.get('content-type')).toContain('text/html');
    expect((await fetch(`${server.url}/api/v1/nothing`)).status).toBe(404);
  });

  it('without a build, / says how to make one; with web: false there is no dashboard at all', async () => {
    const unbuilt = await startTestApp('sqlite', { web: { dir: join(dir, 'no-such-build') } });
    try {
      const answer = await unbuilt.app.inject({ method: 'GET', url: '/' });
      expect(answer.statusCode).toBe(404);
      expect(answer.json().error).toMatchObject({
        code: 'not_found',
        hint: expect.stringContaining('npm run build'),
      });
      expect((await unbuilt.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await unbuilt.close();
    }
    const none = await startTestApp('sqlite', { web: false });
    try {
      expect((await none.app.inject({ method: 'GET', url: '/' })).statusCode).toBe(404);
      expect((await none.app.inject({ method: 'GET', url: '/activity' })).statusCode).toBe(404);
    } finally {
      await none.close();
    }
  });

  it('answers the encodings asked for: gzip when brotli is refused, identity when nothing is accepted', async () => {
    const text = await (await fetch(`${server.url}/`)).text();
    const script = /src="(\/assets\/main-[\w-]+\.js)"/.exec(text)?.[1] as string;
    const gzip = await server.app.inject({
      method: 'GET',
      url: script,
      headers: { 'accept-encoding': 'br;q=0, gzip' },
    });
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(gzip.headers.vary).toBe('accept-encoding');
    const plain = await server.app.inject({ method: 'GET', url: script, headers: { 'accept-encoding': '' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.length).toBeGreaterThan(gzip.rawPayload.length);
    const head = await server.app.inject({ method: 'HEAD', url: '/' });
    expect(head.statusCode).toBe(200);
  });

  it('keeps the first-load JavaScript within 150 KB compressed', () => {
    const manifest = JSON.parse(readFileSync(join(webDir, 'manifest.json'), 'utf8')) as {
      firstLoadGzip: number;
      firstLoadRaw: number;
    };
    console.log(
      `[dashboard] first-load JavaScript: ${(manifest.firstLoadGzip / 1024).toFixed(1)} KB gzip ` +
        `(${(manifest.firstLoadRaw / 1024).toFixed(1)} KB minified)`,
    );
    expect(manifest.firstLoadGzip).toBeLessThanOrEqual(FIRST_LOAD_BUDGET);
  });
});

/** Opens `path` in a new tab, collecting console errors. */
async function open(path: string, key?: string): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error')
      consoleErrors.push(`${path}: ${message.text()} ${message.location().url}`);
  });
  page.on('pageerror', (error) => consoleErrors.push(`${path}: ${error.message}`));
  if (key) {
    // The key as a person would enter it: typed into the page, then kept in sessionStorage.
    await page.goto(`${server.url}/`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.getByText(/Reading as/).waitFor();
    if (path !== '/') {
      // An in-app navigation (a reload would lose nothing either: the key is in sessionStorage).
      await page.evaluate(
        `history.pushState(null, '', ${JSON.stringify(path)}); dispatchEvent(new PopStateEvent('popstate'))`,
      );
    }
  } else {
    await page.goto(`${server.url}${path}`);
  }
  return page;
}

const axeSource = readFileSync(join(root, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/** axe-core on the page: the serious and critical violations (none expected). */
async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated, not added as a script tag: the dashboard's CSP refuses inline scripts, as it should.
  await page.evaluate(axeSource);
  const violations = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((result) =>
    result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    })))`)) as { id: string; impact: string; targets: string[] }[];
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.targets.join(', ')}`);
}

/** The text a locator shows, as laid out (tabs between table cells). */
// biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText is the laid-out text meant here.
const shown = (locator: Locator) => locator.innerText();
const cell = (page: Page, repo: string, field: string) =>
  page.locator(`tr[data-repo="${repo}"] [data-field="${field}"]`);
const card = (page: Page, column: string, stream: string) =>
  page.locator(`[data-column="${column}"] [data-stream="${stream}"]`);

describe.skipIf(!hasChromium)('the dashboard in chromium', () => {
  it('Repositories, anonymously: public repositories with their facts, the private one hidden', async () => {
    const page = await open('/');
    await page.locator('tr[data-repo="swarm-app"][data-loaded]').waitFor();
    await page.locator('tr[data-repo="docs-site"][data-loaded]').waitFor();
    await expect.poll(() => page.locator('tbody tr').count()).toBe(2);
    expect(await page.locator('tr[data-repo="secret-lab"]').count()).toBe(0);
    const row = page.locator('tr[data-repo="swarm-app"]');
    expect(await shown(row)).toMatch(/Mode C · review/);
    // Since the promotion: readme-short merged and stands; quick-hack merged and was reverted.
    expect(await shown(cell(page, 'swarm-app', 'ahead'))).toBe('1 (+1 reverted)');
    expect(await shown(cell(page, 'swarm-app', 'waiting'))).toBe('2 (+1 conflicted)');
    expect(await shown(cell(page, 'swarm-app', 'stabilization'))).toMatch(/^red/);
    expect(await shown(cell(page, 'swarm-app', 'live-agents'))).toBe('4');
    expect(await shown(cell(page, 'docs-site', 'stabilization'))).toBe('never');
    expect(await page.locator('[data-live]').getAttribute('data-live')).toMatch(/polling|connecting/);
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(artifacts, 'repositories.png') });
    await page.close();
  });

  it('Repositories with a key typed in: the private repository too; the key stays out of the URL', async () => {
    const page = await open('/', seeded.agents.maya.key);
    await page.locator('tr[data-repo="secret-lab"]').waitFor();
    expect(page.url()).not.toContain(seeded.agents.maya.key);
    expect(await page.evaluate(() => sessionStorage.getItem('gitswarm.apiKey'))).toBe(seeded.agents.maya.key);
    await page.locator('[data-live="live"]').waitFor();
    await page.locator('tr[data-repo="secret-lab"][data-loaded]').waitFor();
    expect(await shown(cell(page, 'secret-lab', 'waiting'))).toBe('0');

    // A row follows its repository live: a stream submitted for review is counted without a reload.
    const { ok } = apiClient(server.url);
    const { maya } = seeded.agents;
    await ok('POST', `/repos/${seeded.secret.id}/streams`, maya, { id: 'secret-1', name: 'hidden-work' });
    await ok('POST', '/streams/secret-1/submit', maya, {});
    await expect.poll(() => shown(cell(page, 'secret-lab', 'waiting')), { timeout: 2000 }).toBe('1');
    await page.close();
  });

  it('Repository: the board by state with consensus numbers and stale reviews, buffer, stabilization, tasks, council, stage', async () => {
    const page = await open(`/repos/${seeded.repo.id}`);
    await card(page, 'in_review', 'fix-login').waitFor();
    expect(await card(page, 'active', 'wip-cache').count()).toBe(1);
    expect(await card(page, 'in_review', 'tidy-config').count()).toBe(1);
    expect(await shown(card(page, 'conflicted', 'readme-long'))).toContain('conflict: README.md');
    expect(await card(page, 'merged', 'add-parser').count()).toBe(1);
    expect(await card(page, 'merged', 'readme-short').count()).toBe(1);
    expect(await card(page, 'reverted', 'quick-hack').count()).toBe(1);
    // Consensus arrives per card as it comes into view.
    await expect
      .poll(() => shown(card(page, 'in_review', 'fix-login')))
      .toMatch(/lin .*\n0 approve · 1 reject · 0% of 60% needed · 1\/1 reviews · 1 stale/);

    const buffer = page.locator('[data-panel="buffer"]');
    expect(await shown(buffer)).toMatch(/1 merge \(and 1 reverted\) in buffer not yet promoted to main/);
    const stabilization = await shown(page.locator('[data-panel="stabilization"]'));
    expect(stabilization).toMatch(/red .* blamed quick-hack, reverted/);
    expect(stabilization).toMatch(/green .* tag/);
    const tasks = page.locator('[data-panel="tasks"]');
    expect(await shown(tasks.locator('[data-field="available"]'))).toBe('380');
    expect(await shown(tasks.locator('[data-field="reserved"]'))).toBe('120');
    expect(await shown(tasks.locator('[data-field="paid"]'))).toBe('0');
    expect(await shown(tasks.locator(`tr[data-task="${seeded.taskNumber}"]`))).toMatch(
      /Speed up the parser\s+claimed\s+high\s+120\s+ada/,
    );
    expect(await shown(page.locator('[data-panel="dependencies"]'))).toMatch(
      /^fix-login\s+in review\s+login-tests\s+active$/,
    );
    expect(await shown(card(page, 'active', 'login-tests'))).toContain('on fix-login');
    const council = await shown(page.locator('[data-panel="council"]'));
    expect(council).toContain('Make ada a maintainer');
    expect(council).toMatch(/2 members/);
    expect(await shown(page.locator('[data-panel="stage"]'))).toMatch(/Stage \w+/);
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(artifacts, 'repository.png'), fullPage: true });
    await page.close();
  });

  it('Repository, live: a review and a merge made through the API appear within a second, without a reload or a layout shift', async () => {
    const { ok } = apiClient(server.url);
    const { maya, kai } = seeded.agents;
    const page = await open(`/repos/${seeded.repo.id}`, seeded.agents.lin.key);
    await page.locator('[data-live="live"]').waitFor();
    await card(page, 'in_review', 'fix-login').waitFor();
    await page.locator('[data-panel="council"]').waitFor();
    await expect.poll(() => page.locator('.consensus-pending').count()).toBe(0);
    const layout = () =>
      page.evaluate(`[...document.querySelectorAll('main section')].map((e) => {
        const box = e.getBoundingClientRect();
        return [e.getAttribute('aria-labelledby'), box.top, box.left, box.width, box.height].join(' ');
      })`);
    const before = await layout();
    await page.evaluate(`window.__sameDocument = true; window.__shift = 0;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__shift += entry.value;
      }).observe({ type: 'layout-shift' });`);

    /** Milliseconds from the API call to the page showing its effect. */
    const latency = async (call: () => Promise<unknown>, visible: () => Promise<boolean>, what: Locator) => {
      const start = performance.now();
      await call();
      const deadline = start + 1000;
      while (!(await visible())) {
        if (performance.now() > deadline) throw new Error(`not shown within a second: ${await shown(what)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return Math.round(performance.now() - start);
    };
    const reviewMs = await latency(
      () => ok('POST', `/streams/${seeded.streams.review}/reviews`, maya, { verdict: 'approve' }),
      async () =>
        /1 approve · 1 reject · \d+% of 60% needed · 2\/1 reviews · 1 stale/.test(
          await shown(card(page, 'in_review', 'fix-login')),
        ),
      page.locator('[data-column="in_review"]'),
    );
    await ok('POST', `/streams/${seeded.streams.ready}/reviews`, maya, { verdict: 'approve' });
    const mergeMs = await latency(
      () => ok('POST', `/streams/${seeded.streams.ready}/merge`, kai, {}),
      async () => (await card(page, 'merged', 'tidy-config').count()) === 1,
      page.locator('.board'),
    );
    expect(await card(page, 'in_review', 'tidy-config').count()).toBe(0);
    await expect
      .poll(() => shown(page.locator('[data-panel="buffer"] [data-field="ahead"]')))
      .toBe('2 merges');
    console.log(
      `[dashboard] live: review shown after ${reviewMs} ms, merge after ${mergeMs} ms (API call included)`,
    );
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    const shift = (await page.evaluate('window.__shift')) as number;
    console.log(`[dashboard] cumulative layout shift during the live updates: ${shift.toFixed(4)}`);
    // Every section (the board's columns, each panel) is where it was and as big: content changed inside.
    expect(await layout()).toEqual(before);
    expect(shift).toBeLessThan(0.1);
    // The README's picture is rewritten only on request (its ages differ each run).
    await page.screenshot({ path: join(artifacts, 'repository-live.png') });
    if (process.env.UPDATE_DASHBOARD_PNG)
      await page.screenshot({ path: join(root, 'docs', 'dashboard.png') });

    // At a phone's width the board folds to one column and nothing overflows sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    await expect.poll(() => page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(artifacts, 'repository-phone.png') });
    await page.close();
  });

  it('shows a lost WebSocket and resumes it: events after the reconnect arrive', async () => {
    const { ok } = apiClient(server.url);
    const page = await open(`/repos/${seeded.repo.id}`, seeded.agents.kai.key);
    await page.locator('[data-live="live"]').waitFor();
    await card(page, 'active', 'wip-cache').waitFor();
    await page.evaluate(`window.__states = [];
      new MutationObserver(() => window.__states.push(document.querySelector('[data-live]').dataset.live))
        .observe(document.querySelector('[data-live]'), { attributes: true });`);
    // The server drops every socket, as a restart or a network fault would.
    for (const socket of server.app.websocketServer.clients) socket.terminate();
    await expect.poll(() => page.evaluate('window.__states'), { timeout: 5000 }).toEqual(['offline', 'live']);
    await ok('POST', `/streams/${seeded.streams.active}/submit`, seeded.agents.ada, {});
    await card(page, 'in_review', 'wip-cache').waitFor({ timeout: 1000 });
    await page.close();
  });

  it('Stream: reviews with the stale one marked, commits, the diff file by file highlighted, activity; a conflicted one lists its paths', async () => {
    const page = await open(`/streams/${seeded.streams.review}`);
    await page.locator('.diff-file[data-file="src/login.py"]').waitFor();
    expect(await shown(page.locator('h1'))).toMatch(/fix-login\s+in review/);
    const kai = await shown(page.locator('[data-reviewer="kai"]'));
    expect(kai).toMatch(/request changes by kai/);
    expect(kai).toMatch(/stale: the code changed since/);
    expect(await shown(page.locator('[data-reviewer="maya"]'))).toMatch(/approve by maya/);
    expect(await page.locator('.commits li').count()).toBe(2);
    expect(await shown(page.locator('.commits'))).toContain('compare in constant time');
    expect(await page.locator('.diff-file[data-file="src/login.py"] .hljs-keyword').count()).toBeGreaterThan(
      0,
    );
    expect(await shown(page.locator('.diff-file summary'))).toMatch(/src\/login.py \+4 −0/);
    expect(
      await page.locator('#stream-activity ~ * li, section[aria-labelledby="stream-activity"] li').count(),
    ).toBeGreaterThan(3);
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(artifacts, 'stream.png'), fullPage: true });

    // Keyboard: the link back to the repository is reachable and followed with Enter, in-app.
    await page.locator('.crumbs a').focus();
    await page.keyboard.press('Enter');
    await page.locator('[data-column="in_review"]').waitFor();
    expect(new URL(page.url()).pathname).toBe(`/repos/${seeded.repo.id}`);
    await page.close();

    const conflicted = await open(`/streams/${seeded.streams.conflicted}`);
    await conflicted.locator('.conflict-list').waitFor();
    expect(await shown(conflicted.locator('.conflict-list'))).toBe('README.md');
    await conflicted.close();

    // A merged stream, and a private Mode B one (read with a key): its diff lives in the clones.
    const merged = await open(`/streams/${seeded.streams.merged}`);
    await merged.locator('section[aria-labelledby="diff"] .muted').waitFor();
    expect(await shown(merged.locator('h1'))).toMatch(/add-parser\s+merged/);
    await merged.close();
    const modeB = await open('/streams/secret-1', seeded.agents.maya.key);
    await modeB.getByText(/the diff is in the agents’ clones/).waitFor();
    expect(await shown(modeB.locator('.crumbs'))).toBe('secret-lab /');
    await modeB.close();
  });

  it('Agent: karma, merged and reverted streams, reviews given and how they held up', async () => {
    const { ok } = apiClient(server.url);
    const karma = await ok('GET', `/agents/${seeded.agents.maya.id}/karma`, null);
    const page = await open(`/agents/${seeded.agents.maya.id}`);
    await page.locator('[data-field="karma"]').waitFor();
    expect(await shown(page.locator('[data-field="karma"]'))).toBe(String(karma.total));
    const reviews = await shown(page.locator('section[aria-labelledby="reviews-given"]'));
    expect(reviews).toMatch(/approve on\s+quick-hack\s+reverted\s+missed/);
    expect(reviews).toMatch(/approve on\s+add-parser\s+merged\s+held/);
    await page.locator('.chart canvas').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(artifacts, 'agent.png'), fullPage: true });
    await page.close();

    const kai = await open(`/agents/${seeded.agents.kai.id}`);
    await kai.locator('[data-field="karma"]').waitFor();
    expect(await shown(kai.locator('.lede'))).toMatch(/1 merged · 1 reverted/);
    await kai.close();
  });

  it('Activity: the live feed, filtered by event and by agent', async () => {
    const { ok } = apiClient(server.url);
    const page = await open('/activity');
    await page.locator('.feed li').first().waitFor();
    await page.getByLabel('Event').selectOption('stream.merged');
    const merged = await page
      .locator('.feed li')
      .evaluateAll((items) => items.map((i) => i.getAttribute('data-event')));
    expect(merged.length).toBeGreaterThanOrEqual(3);
    expect(new Set(merged)).toEqual(new Set(['stream.merged']));
    await page.getByLabel('Event').selectOption('');
    await page.getByLabel('Agent').selectOption({ label: 'lin' });
    expect(await page.locator('.feed li').count()).toBeGreaterThan(0);
    for (const text of await page.locator('.feed li').allInnerTexts()) expect(text).toContain('lin');
    await page.getByLabel('Agent').selectOption('');
    // A new event arrives live (polled, anonymously) at the top.
    await ok('POST', `/streams/${seeded.streams.active}/reviews`, seeded.agents.lin, {
      verdict: 'comment',
      feedback: 'Watching this one.',
    });
    await expect
      .poll(() => page.locator('.feed li').first().getAttribute('data-event'), { timeout: 2000 })
      .toBe('stream.reviewed');
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(artifacts, 'activity.png') });
    await page.close();
  });

  it('Repository, a long column: its newest cards, counts kept live (a new stream, one the board had not loaded), "Show all N" by keyboard', async () => {
    const { ok } = apiClient(server.url);
    const { maya } = seeded.agents;
    const repo = (await ok('POST', '/repos', maya, { name: 'long-column' })).repo;
    for (let i = 0; i < 14; i += 1)
      await ok('POST', `/repos/${repo.id}/streams`, maya, { name: `step-${i}` });
    const page = await open(`/repos/${repo.id}`, maya.key);
    await page.locator('[data-live="live"]').waitFor();
    const active = page.locator('[data-column="active"]');
    const names = () =>
      active.locator('[data-stream]').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-stream')));
    await card(page, 'active', 'step-13').waitFor();
    expect(await names()).toEqual(Array.from({ length: 12 }, (_, i) => `step-${13 - i}`));
    expect(await shown(active.locator('.count'))).toBe('14');
    // A new stream is counted and shown first; one the board had not loaded leaves the count.
    await ok('POST', `/repos/${repo.id}/streams`, maya, { name: 'step-14' });
    await expect.poll(() => shown(active.locator('.count'))).toBe('15');
    expect((await names())[0]).toBe('step-14');
    const first = (await ok('GET', `/repos/${repo.id}/streams?limit=1`, maya)).streams[0];
    expect(first.name).toBe('step-0');
    await ok('DELETE', `/streams/${first.id}`, maya);
    await expect.poll(() => shown(active.locator('.count'))).toBe('14');
    // "Show all 14", by keyboard: every card, newest first, and no button left.
    await active.getByRole('button', { name: 'Show all 14' }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => active.locator('[data-stream]').count()).toBe(14);
    expect(await names()).toEqual(Array.from({ length: 14 }, (_, i) => `step-${14 - i}`));
    expect(await active.getByRole('button').count()).toBe(0);
    await page.close();
  });

  it('logged no console errors on any page', () => {
    expect(consoleErrors).toEqual([]);
  });
});
