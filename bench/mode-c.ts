/**
 * Mode C on loopback, for `npm run bench:server` (bench/server.ts starts the server, with a data
 * dir, on PostgreSQL): agents speak only HTTP and the server holds the git.
 *  - file write: p50/p99 of `PUT /streams/:id/files/<path>` (a small text file, one at a time);
 *  - commit + merge: p50/p99 of the round trip that lands one change on the buffer (a file written
 *    first, untimed; then `POST /streams/:id/commits`, which in swarm mode also merges, and
 *    `POST /streams/:id/merge` when the commit did not merge);
 *  - swarm: 8 HTTP agents × 25 commits (each a file write and a commit, all agents at once), against
 *    the same 200 merges by 8 long-lived core agents (the (b') figure of `npm run bench`), measured
 *    in this run; target ratio ≤ 1.5. The merges that landed are counted in a `git clone` of the
 *    repository's clone URL (read-only smart HTTP), whose time is printed too.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchSwarmLongLived } from './run.js';

const FILE_WRITES = Number(process.env.BENCH_MODE_C_WRITES ?? 300);
const ROUND_TRIPS = Number(process.env.BENCH_MODE_C_COMMITS ?? 100);
const SWARM_AGENTS = 8;
const SWARM_COMMITS = 25;
const TARGET_RATIO = 1.5;

type Json = Record<string, unknown> & {
  api_key?: string;
  repo?: { id: string };
  stream?: { id: string };
  url?: string;
  merged?: boolean;
};

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** The q-quantile (0 < q ≤ 1) of the samples, nearest rank. */
export function quantile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

class Client {
  constructor(
    private readonly base: string,
    readonly key: string | null = null,
  ) {}

  async call(method: string, path: string, body?: unknown, raw?: string): Promise<Json> {
    const response = await fetch(`${this.base}/api/v1${path}`, {
      method,
      headers: {
        ...(this.key ? { authorization: `Bearer ${this.key}` } : {}),
        ...(raw !== undefined
          ? { 'content-type': 'text/plain' }
          : body === undefined
            ? {}
            : { 'content-type': 'application/json' }),
      },
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await response.text();
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as Json;
  }

  writeFile(stream: string, path: string, content: string): Promise<Json> {
    return this.call('PUT', `/streams/${stream}/files/${path}`, undefined, content);
  }

  /** Commits the stream's worktree; merges too when the commit did not (review mode). */
  async commitAndMerge(stream: string, message: string): Promise<void> {
    const committed = await this.call('POST', `/streams/${stream}/commits`, { message });
    if (!committed.merged) await this.call('POST', `/streams/${stream}/merge`, {});
  }
}

async function agent(base: string, name: string): Promise<Client> {
  const registered = await new Client(base).call('POST', '/agents', { name });
  return new Client(base, registered.api_key as string);
}

async function swarmRepo(owner: Client, name: string): Promise<string> {
  return (
    (await owner.call('POST', '/repos', { name, server_git: true, merge_mode: 'swarm' })).repo as {
      id: string;
    }
  ).id;
}

async function stream(client: Client, repo: string, name: string): Promise<string> {
  return ((await client.call('POST', `/repos/${repo}/streams`, { name })).stream as { id: string }).id;
}

function line(label: string, samples: readonly number[]): string {
  return `${label.padEnd(14)} p50 ${quantile(samples, 0.5).toFixed(1).padStart(6)} ms   p99 ${quantile(samples, 0.99).toFixed(1).padStart(6)} ms   (${samples.length} requests)`;
}

function progress(text: string): void {
  process.stderr.write(`mode C: ${text}\n`);
}

/** Runs the Mode C figures against the server at `base`; returns the lines to print. */
export async function benchModeC(base: string): Promise<string[]> {
  const run = `${Date.now().toString(36)}`;
  const owner = await agent(base, `modec-owner-${run}`);

  // Latencies, one request at a time, on one stream of a swarm repository.
  const latencyRepo = await swarmRepo(owner, `modec-latency-${run}`);
  const writer = await stream(owner, latencyRepo, 'writes');
  for (let i = 0; i < 10; i++) await owner.writeFile(writer, 'warm.txt', `warm ${i}\n`);
  const writes: number[] = [];
  for (let i = 0; i < FILE_WRITES; i++) {
    const start = process.hrtime.bigint();
    await owner.writeFile(writer, `notes/file-${i % 20}.txt`, `write ${i}\n`);
    writes.push(ms(start));
  }
  progress(line('file write', writes));
  await owner.commitAndMerge(writer, 'the written files');
  const roundTrips: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    await owner.writeFile(writer, 'counter.txt', `${i}\n`);
    const start = process.hrtime.bigint();
    await owner.commitAndMerge(writer, `change ${i}`);
    roundTrips.push(ms(start));
  }

  progress(line('commit + merge', roundTrips));

  // The swarm: 8 agents with a stream each, then all at once, 25 × (write a file, commit).
  const swarmId = await swarmRepo(owner, `modec-swarm-${run}`);
  const agents: { client: Client; stream: string; name: string }[] = [];
  for (let a = 0; a < SWARM_AGENTS; a++) {
    const name = `modec-agent${a}-${run}`;
    const client = await agent(base, name);
    agents.push({ client, name, stream: await stream(client, swarmId, `agent${a}`) });
  }
  const swarmStart = process.hrtime.bigint();
  await Promise.all(
    agents.map(async ({ client, stream: id, name }) => {
      for (let c = 0; c < SWARM_COMMITS; c++) {
        await client.writeFile(id, `${name}.txt`, `commit ${c}\n`);
        await client.commitAndMerge(id, `${name} commit ${c}`);
      }
    }),
  );
  const httpMs = ms(swarmStart);
  progress(`swarm over HTTP ${httpMs.toFixed(0)} ms`);

  // Count what landed in a clone over smart HTTP.
  const url = (await owner.call('GET', `/repos/${swarmId}/clone-url`)).url as string;
  const dir = mkdtempSync(join(tmpdir(), 'gitswarm-bench-c-'));
  let landed: number;
  let cloneMs: number;
  try {
    const cloneStart = process.hrtime.bigint();
    execFileSync('git', ['clone', '-q', '--no-checkout', url, join(dir, 'clone')], { stdio: 'ignore' });
    cloneMs = ms(cloneStart);
    landed = Number(
      execFileSync('git', ['rev-list', '--count', '--merges', '--first-parent', 'origin/buffer'], {
        cwd: join(dir, 'clone'),
        encoding: 'utf8',
      }).trim(),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  progress(`cloned in ${cloneMs.toFixed(0)} ms, ${landed} merges landed; now (b')`);
  // (b'): the same 200 merges by 8 long-lived core agents (Mode A), measured now on this machine.
  const core = await benchSwarmLongLived(SWARM_AGENTS, SWARM_COMMITS);
  const ratio = httpMs / core.gitswarm_ms;
  const total = SWARM_AGENTS * SWARM_COMMITS;
  return [
    'Mode C (server-held git; PostgreSQL, loopback)',
    line('file write', writes),
    line('commit + merge', roundTrips),
    `swarm          ${SWARM_AGENTS} HTTP agents × ${SWARM_COMMITS} commits ${httpMs.toFixed(0)} ms, ${landed}/${total} merges landed; (b') ${SWARM_AGENTS} long-lived core agents ${core.gitswarm_ms.toFixed(0)} ms, ${core.merges_landed}/${total} landed; ratio ${ratio.toFixed(2)} (target ≤ ${TARGET_RATIO}: ${ratio <= TARGET_RATIO ? 'ok' : 'MISSED'})`,
    `git clone      of the swarm's result over smart HTTP: ${cloneMs.toFixed(0)} ms`,
  ];
}
