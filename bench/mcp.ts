/**
 * MCP figures for `npm run bench` (`npm run bench -- mcp` runs only these):
 *  (g) the (b) swarm through 8 `gitswarm mcp` stdio servers, one per agent, each driven by the
 *      SDK's Client: 8 × 25 `commit` tool calls, all landed, against the same raw-git script;
 *  (h) the latency of a `status` tool call (p50, p99 over 200 sequential calls).
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { GIT_IDENTITY, rawGitSwarm, tempRepo } from './git-fixture.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const BIN = join(ROOT, 'bin', 'gitswarm.js');
const ENV: Record<string, string> = {};
for (const [key, value] of Object.entries(process.env)) {
  if (value !== undefined && !key.startsWith('GITSWARM_')) ENV[key] = value;
}
Object.assign(ENV, { ...GIT_IDENTITY, NO_COLOR: '1' });

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function connect(repo: string, agent: string): Promise<Client> {
  const client = new Client({ name: `bench-${agent}`, version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'mcp', '--as', agent],
      cwd: repo,
      env: ENV,
      stderr: process.env.GITSWARM_BENCH_DEBUG ? 'inherit' : 'ignore',
    }),
  );
  return client;
}

async function tool(client: Client, name: string, args: Record<string, unknown> = {}) {
  // A commit waits its turn on the buffer behind the other agents': no 60 s default timeout.
  const result = await client.callTool({ name, arguments: args }, undefined, { timeout: 600_000 });
  if (result.isError) throw new Error(`${name}: ${JSON.stringify(result.content)}`);
  return result.structuredContent as Record<string, unknown>;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** (g) 8 agents × 25 commits, each agent an MCP stdio server; the raw-git script of (b) right after. */
export async function benchMcpSwarm(agents = 8, commits = 25): Promise<Record<string, number>> {
  const repo = tempRepo('gitswarm-bench-mcp-');
  const clients: Client[] = [];
  try {
    run(process.execPath, [BIN, 'init', '--mode', 'swarm'], repo);
    for (let a = 0; a < agents; a++) run(process.execPath, [BIN, 'agent', 'register', `agent${a}`], repo);
    clients.push(
      ...(await Promise.all(Array.from({ length: agents }, (_, a) => connect(repo, `agent${a}`)))),
    );
    const worktrees: string[] = [];
    for (const client of clients) worktrees.push(String((await tool(client, 'workspace_create')).worktree));
    const start = process.hrtime.bigint();
    await Promise.all(
      clients.map(async (client, a) => {
        for (let c = 0; c < commits; c++) {
          writeFileSync(join(worktrees[a] as string, `agent${a}.txt`), `commit ${c}\n`);
          await tool(client, 'commit', { message: `agent${a} commit ${c}` });
        }
      }),
    );
    const mcpMs = ms(start);
    const landed = Number(
      run('git', ['rev-list', '--count', '--merges', '--first-parent', 'buffer'], repo).trim(),
    );
    const raw = rawGitSwarm(agents, commits);
    return { mcp_ms: mcpMs, raw_git_ms: raw, ratio: mcpMs / raw, merges_landed: landed };
  } finally {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    rmSync(repo, { recursive: true, force: true });
  }
}

/** (h) p50 and p99 of a status tool call, over `calls` sequential calls (after 10 warm-up calls). */
export async function benchMcpStatus(calls = 200): Promise<Record<string, number>> {
  const repo = tempRepo('gitswarm-bench-mcp-');
  let client: Client | undefined;
  try {
    run(process.execPath, [BIN, 'init', '--mode', 'review'], repo);
    for (const name of ['owner', 'coder']) run(process.execPath, [BIN, 'agent', 'register', name], repo);
    run(process.execPath, [BIN, 'workspace', 'create', '--as', 'coder'], repo);
    client = await connect(repo, 'owner');
    for (let i = 0; i < 10; i++) await tool(client, 'status');
    const samples: number[] = [];
    for (let i = 0; i < calls; i++) {
      const start = process.hrtime.bigint();
      await tool(client, 'status');
      samples.push(ms(start));
    }
    return { calls, p50_ms: percentile(samples, 50), p99_ms: percentile(samples, 99) };
  } finally {
    await client?.close().catch(() => {});
    rmSync(repo, { recursive: true, force: true });
  }
}
