/**
 * `npm run bench:server`: HTTP throughput of the server on PostgreSQL.
 *
 * One process runs the server (`gitswarm serve` internals, rate limits and webhook delivery off:
 * this measures the API, not the limiter) on a fresh database created on TEST_DATABASE_URL's
 * server (default postgres://postgres@127.0.0.1:5432/test) and dropped afterwards. This process
 * seeds it over HTTP, then loads it with autocannon over loopback:
 *  - reads:  authenticated GET /api/v1/repos/:id/streams (20 streams per repository);
 *  - writes: authenticated POST /api/v1/streams/:id/reviews (50 reviewers taking turns over the
 *            streams; each review re-evaluates consensus under the repository's lock). Consecutive
 *            requests go to streams of different repositories, round-robin, as on a server hosting
 *            many repositories: one repository's reviews queue on its lock, as they must.
 * Each load runs twice: as fast as the server answers (throughput), then at the target rate as a
 * steady open-loop stream (bench/paced-load.ts: the latency clients see at that load; under
 * saturation every request waits behind the connections' others, so its latencies say little).
 * During the steady phases a bystander process (bench/stall-probe.ts) counts the moments its 1 ms
 * timer came 10 ms or more late: pauses of the machine, which the latencies then include.
 * Prints requests per second, p50 and p99 latency, errors, CPU time per request (the server
 * process's, and that of the PostgreSQL backends serving the bench's database, read from /proc),
 * the server's peak RSS and its live heap after a full collection; beside each steady phase, the
 * load generator's CPU per request and the server's major collections during it (their concurrent
 * marking takes cores from the server and PostgreSQL on a small machine). BENCH_CPU_PROF=<dir> writes a
 * V8 CPU profile of the server process there.
 * Targets: ≥ 2000 reads/s and ≥ 500 review writes/s, each with p99 < 50 ms at that rate.
 * Then Mode C (bench/mode-c.ts) on the same server, which holds git in a temporary data dir: file
 * write and commit + merge latencies, and 8 HTTP agents × 25 commits against `npm run bench`'s (b')
 * (`npm run bench:server -- mode-c` runs only these, `npm run bench:server -- api` only the API).
 * A GET /healthz phase of the same server comes first: the reads and writes are also given as a
 * share of it, so the machine's load of the moment cancels out.
 *
 * Options (environment): BENCH_DURATION (seconds, default 10), BENCH_CONNECTIONS (default 16: enough to saturate a small machine while p99 stays meaningful),
 * BENCH_REPOS (repositories the review load is spread over, default 4: one repository's reviews
 * are serialized by its lock, as they must be).
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { type PacedLoadResult, type PacedRequest, pacedLoad } from './paced-load.js';
import { STALL_MS, type StallReport, startStallProbe } from './stall-probe.js';

const SELF = fileURLToPath(import.meta.url);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const REPOS = Number(process.env.BENCH_REPOS ?? 4);
const STREAMS_PER_REPO = 20;
const REVIEWERS = 50;
const TARGETS = { reads: 2000, writes: 500, p99: 50 };

type AutocannonResult = autocannon.Result;

interface ApiBody {
  api_key: string;
  agent: { id: string };
  repo: { id: string };
  stream: { id: string };
}

/** The server side: start, report the port, answer RSS probes, stop on SIGTERM. */
async function serve(databaseUrl: string, dataDir: string): Promise<void> {
  const { startServer } = await import('../src/server/serve.js');
  const server = await startServer({
    port: 0,
    host: '127.0.0.1',
    databaseUrl,
    dataDir,
    logger: false,
    handleSignals: true,
    app: { rateLimit: false, notifications: false },
  });
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 100);
  sampler.unref();
  // Major collections since the last ask: their marking runs beside the server on V8's worker
  // threads, so on a small machine they take cores from the server and PostgreSQL for a while.
  let majorCollections = { count: 0, pauseMs: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
      majorCollections.count++;
      majorCollections.pauseMs += entry.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  process.on('message', (message: { type: string }) => {
    if (message.type === 'gc') {
      process.send?.({ type: 'gc', ...majorCollections });
      majorCollections = { count: 0, pauseMs: 0 };
    }
    if (message.type === 'rss') {
      // The heap still live after a full collection: what the load left behind, garbage aside.
      (globalThis as { gc?: () => void }).gc?.();
      const { rss, heapUsed } = process.memoryUsage();
      process.send?.({ type: 'rss', rss, peak: peakRss, live: heapUsed });
    }
    if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send?.({ type: 'cpu', micros: user + system });
    }
  });
  process.send?.({ type: 'ready', port: server.port });
}

function request(child: ChildProcess, type: string): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    const onMessage = (message: Record<string, number> & { type: string }) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      resolve(message);
    };
    child.on('message', onMessage);
    child.send({ type });
  });
}

async function api(base: string, method: string, path: string, key: string | null, body?: unknown) {
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await response.json()) as ApiBody;
  if (response.status >= 300)
    throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

function run(options: autocannon.Options): Promise<AutocannonResult> {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/** Clock ticks per second of /proc's CPU times. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU microseconds used so far by the server process and by the PostgreSQL backends serving the
 * bench's database (user + system, from /proc; 0 for PostgreSQL when its processes are not readable).
 */
async function cpuNow(child: ChildProcess, admin: pg.Client, database: string) {
  const server = (await request(child, 'cpu')).micros as number;
  const { rows } = await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [
    database,
  ]);
  const ticks = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(pid, Number(fields[11]) + Number(fields[12]));
    } catch {
      // Gone, or on another machine.
    }
  }
  return { server, postgres: ticks };
}

type CpuSample = Awaited<ReturnType<typeof cpuNow>>;

/** PostgreSQL's CPU microseconds between two samples: backends gone by the second are left out. */
function postgresMicros(before: CpuSample, after: CpuSample): number {
  let ticks = 0;
  for (const [pid, now] of after.postgres) ticks += now - (before.postgres.get(pid) ?? 0);
  return (ticks / CLOCK_TICKS) * 1e6;
}

/** CPU per request of a phase of `requests` requests, from samples before and after it. */
function cpuPerRequest(before: CpuSample, after: CpuSample, requests: number): string {
  const per = (micros: number) => `${(micros / Math.max(requests, 1)).toFixed(0)} µs`;
  return `CPU/request: server ${per(after.server - before.server)}, PostgreSQL ${per(postgresMicros(before, after))}`;
}

function line(label: string, result: AutocannonResult): string {
  const failed = result.errors + result.timeouts + result.non2xx;
  return `${label.padEnd(16)} ${result.requests.average.toFixed(0).padStart(7)} req/s   p50 ${String(result.latency.p50).padStart(3)} ms   p99 ${String(result.latency.p99).padStart(3)} ms   ${result.requests.total} requests, ${failed} failed`;
}

/** What the machine did beside a steady phase: the server's major collections and CPU, the load generator's, the bystander's lateness. */
interface PacedContext {
  stalls: StallReport;
  collections: { count: number; pauseMs: number };
  cpu: string;
}

function pacedLine(label: string, result: PacedLoadResult, context: PacedContext): string {
  const ms = (value: number) => value.toFixed(0).padStart(3);
  const { stalls, collections } = context;
  return [
    `${label.padEnd(16)} ${result.rate.toFixed(0).padStart(7)} req/s   p50 ${ms(result.p50)} ms   p99 ${ms(result.p99)} ms   ${result.total} requests, ${result.failed} failed (steady rate, max ${ms(result.max)} ms)`,
    `                 beside it: ${context.cpu}, load generator ${result.cpuPerRequest.toFixed(0)} µs; the server's major collections ${collections.count} (paused ${collections.pauseMs.toFixed(0)} ms in all); an idle bystander process ${stalls.stalls} times ≥ ${STALL_MS} ms late, at most ${stalls.max.toFixed(0)} ms`,
  ].join('\n');
}

/** Whether a paced phase kept up with its rate (all answered, none failed, within 2% of the time). */
function meetsRate(result: PacedLoadResult, rate: number): boolean {
  return result.failed === 0 && result.rate >= rate * 0.98;
}

/** A phase's throughput as a share of the baseline's, measured minutes apart on the same server. */
function ratio(result: AutocannonResult, baseline: AutocannonResult): string {
  return `${((result.requests.average / baseline.requests.average) * 100).toFixed(0)}% of /healthz`;
}

async function main(): Promise<void> {
  const baseUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const name = `gitswarm_bench_${Date.now()}_${process.pid}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'gitswarm-bench-server-'));
  const child = fork(SELF, ['serve', url.toString(), dataDir], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [
      '--expose-gc',
      ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
    ],
  });
  try {
    const { port } = await new Promise<{ port: number }>((resolve, reject) => {
      child.once('message', (message: { type: string; port: number }) => resolve(message));
      child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    if (process.argv[2] === 'mode-c') {
      const { benchModeC } = await import('./mode-c.js');
      process.stdout.write(`${(await benchModeC(base)).join('\n')}\n`);
      return;
    }

    // Seed over the API: an owner, an author, reviewers who count (maintainers), repositories, streams.
    const owner = (await api(base, 'POST', '/agents', null, { name: 'bench-owner' })).api_key;
    const author = (await api(base, 'POST', '/agents', null, { name: 'bench-author' })).api_key;
    const reviewers: { id: string; key: string }[] = [];
    for (let i = 0; i < REVIEWERS; i++) {
      const created = await api(base, 'POST', '/agents', null, { name: `bench-reviewer-${i}` });
      reviewers.push({ id: created.agent.id, key: created.api_key });
    }
    const repos: string[] = [];
    const streams: string[] = [];
    for (let r = 0; r < REPOS; r++) {
      const repo = (await api(base, 'POST', '/repos', owner, { name: `bench-${r}`, merge_mode: 'review' }))
        .repo;
      repos.push(repo.id);
      for (const reviewer of reviewers.slice(0, 5)) {
        await api(base, 'POST', `/repos/${repo.id}/maintainers`, owner, { agent_id: reviewer.id });
      }
      for (let s = 0; s < STREAMS_PER_REPO; s++) {
        const stream = (await api(base, 'POST', `/repos/${repo.id}/streams`, author, { name: `stream-${s}` }))
          .stream;
        streams.push(stream.id);
      }
    }
    // Consecutive review writes go to streams of different repositories, round-robin: taken repository
    // by repository, the 16 requests in flight would all queue on one repository's lock.
    const interleaved = streams.map(
      (_, i) => streams[(i % REPOS) * STREAMS_PER_REPO + Math.floor(i / REPOS)] as string,
    );
    const before = await request(child, 'rss');
    process.stderr.write(
      `Seeded ${REPOS} repositories, ${streams.length} streams, ${REVIEWERS} reviewers; ${CONNECTIONS} connections, ${DURATION} s per phase.\n`,
    );

    // The same server answering its cheapest route: the machine's drift of the moment cancels out
    // in the ratios to it.
    const cpu = () => cpuNow(child, admin, name);
    const cpuBeforeHealthz = await cpu();
    const healthz = await run({ url: `${base}/healthz`, connections: CONNECTIONS, duration: DURATION });

    // Reviewers and streams take turns, as many agents on many repositories would.
    const readAt = (n: number): PacedRequest => ({
      method: 'GET',
      path: `/api/v1/repos/${repos[n % repos.length]}/streams`,
      headers: { authorization: `Bearer ${reviewers[n % REVIEWERS]?.key}` },
    });
    const writeAt = (n: number): PacedRequest => ({
      method: 'POST',
      path: `/api/v1/streams/${interleaved[n % interleaved.length]}/reviews`,
      headers: {
        authorization: `Bearer ${reviewers[n % REVIEWERS]?.key}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ verdict: n % 3 === 0 ? 'request_changes' : 'approve' }),
    });
    const inTurn = (at: (n: number) => PacedRequest): autocannon.RequestSpec[] => {
      let turn = 0;
      return [{ setupRequest: (req) => Object.assign(req, at(++turn)) }];
    };
    const load = { url: base, connections: CONNECTIONS, duration: DURATION };

    // As fast as the server goes: the throughput. Its latencies are those of a full queue (the
    // connections always have a request waiting: the mean is connections / throughput).
    const cpuBeforeReads = await cpu();
    const reads = await run({ ...load, requests: inTurn(readAt) });
    const cpuBeforeWrites = await cpu();
    const writes = await run({ ...load, requests: inTurn(writeAt) });
    const cpuAfterWrites = await cpu();
    // At the target rates, steadily: the latency clients see while the server carries that load.
    // A bystander process tells the machine's pauses from the server's (bench/stall-probe.ts).
    const paced = { base, durationSeconds: DURATION, connections: CONNECTIONS };
    const probe = await startStallProbe();
    const steady = async (rate: number, next: (n: number) => PacedRequest) => {
      await probe.measure();
      await request(child, 'gc');
      const before = await cpu();
      const result = await pacedLoad({ ...paced, rate, next });
      const after = await cpu();
      const context: PacedContext = {
        stalls: await probe.measure(),
        collections: (await request(child, 'gc')) as PacedContext['collections'],
        cpu: cpuPerRequest(before, after, result.total),
      };
      return { result, context };
    };
    const pacedReads = await steady(TARGETS.reads, readAt);
    const pacedWrites = await steady(TARGETS.writes, writeAt);
    probe.stop();
    const rss = await request(child, 'rss');

    const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
    const ok = (value: boolean) => (value ? 'ok' : 'MISSED');
    const out = [
      'GitSwarm server benchmark (PostgreSQL, loopback, autocannon in a second process)',
      line('healthz', healthz),
      `${line('reads', reads)}   ${ratio(reads, healthz)}`,
      `${line('writes', writes)}   ${ratio(writes, healthz)}`,
      pacedLine(`reads at ${TARGETS.reads}/s`, pacedReads.result, pacedReads.context),
      pacedLine(`writes at ${TARGETS.writes}/s`, pacedWrites.result, pacedWrites.context),
      `healthz  ${cpuPerRequest(cpuBeforeHealthz, cpuBeforeReads, healthz.requests.total)}`,
      `reads    ${cpuPerRequest(cpuBeforeReads, cpuBeforeWrites, reads.requests.total)}`,
      `writes   ${cpuPerRequest(cpuBeforeWrites, cpuAfterWrites, writes.requests.total)}`,
      `server RSS: ${mb(before.rss as number)} after seeding, ${mb(rss.rss as number)} after the load, peak ${mb(rss.peak as number)}; live heap ${mb(before.live as number)} after seeding, ${mb(rss.live as number)} after the load`,
      `targets: reads ≥ ${TARGETS.reads}/s ${ok(reads.requests.average >= TARGETS.reads)}, writes ≥ ${TARGETS.writes}/s ${ok(writes.requests.average >= TARGETS.writes)}, p99 < ${TARGETS.p99} ms at those rates ${ok(meetsRate(pacedReads.result, TARGETS.reads) && meetsRate(pacedWrites.result, TARGETS.writes) && pacedReads.result.p99 < TARGETS.p99 && pacedWrites.result.p99 < TARGETS.p99)}`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    if (process.argv[2] === 'api') return;
    const { benchModeC } = await import('./mode-c.js');
    process.stdout.write(`${(await benchModeC(base)).join('\n')}\n`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'serve') {
  await serve(process.argv[3] as string, process.argv[4] as string);
} else {
  await main();
}
