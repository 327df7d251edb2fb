/**
 * `npm run bench`: ratios measured in one run on this machine.
 *  (a) one command (`agent list`, `status`) and the 8-command Mode A workflow against `node -e 0`
 *      (× 8: the process floor), each with the repository's command server (docs/daemon.md) and
 *      in-process (GITSWARM_NO_DAEMON=1); every command is run as users run it, by the `gitswarm`
 *      command (bin/gitswarm: the native client where the build made it), and for comparison
 *      through Node's client (`node bin/gitswarm.js`);
 *  (b) swarm: 8 concurrent agents × 25 commits, all landed on the buffer, against a raw-git script
 *      doing the same commits and merges sequentially in a checkout: with a `gitswarm commit`
 *      process per commit (the honest CLI figure; through the command server, and in-process),
 *      and with 8 long-lived agent processes calling the core API (as agents behind MCP do);
 *  (c) a merge with 1 vs 200 active streams (must stay flat);
 *  then the stabilizer's figures when that module is present, Mode B's (bench/mode-b.ts) and
 *  MCP's (bench/mcp.ts: the swarm through 8 `gitswarm mcp` stdio servers, a status call's latency).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GIT_IDENTITY, rawGitSwarm, tempRepo } from './git-fixture.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
/** The `gitswarm` command as installed (the native client where the build made one). */
const COMMAND = join(ROOT, 'bin', 'gitswarm');
/** Node's entry point: `node bin/gitswarm.js` is the Node client of the command server. */
const BIN = join(ROOT, 'bin', 'gitswarm.js');
const ENV: NodeJS.ProcessEnv = { ...process.env, ...GIT_IDENTITY, NO_COLOR: '1' };
delete ENV.GITSWARM_NO_DAEMON;
/** Commands run in-process: no command server is used or started. */
const IN_PROCESS_ENV = { ...ENV, GITSWARM_NO_DAEMON: '1' };

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = ENV): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function gitswarm(cwd: string, ...args: string[]): string {
  return run(COMMAND, args, cwd);
}

function gitswarmIn(env: NodeJS.ProcessEnv, cwd: string, ...args: string[]): string {
  return run(COMMAND, args, cwd, env);
}

/** As `gitswarmIn`, through Node's client (`node bin/gitswarm.js`) instead of the native one. */
function gitswarmNodeIn(env: NodeJS.ProcessEnv, cwd: string, ...args: string[]): string {
  return run(process.execPath, [BIN, ...args], cwd, env);
}

/** Waits until the repository's command server answers (it starts after the first command). */
function waitForCommandServer(repo: string): void {
  for (let waited = 0; waited < 10_000; waited += 50) {
    if (JSON.parse(gitswarm(repo, 'daemon', 'status', '--json')).running) return;
    execFileSync('sleep', ['0.05']);
  }
  throw new Error(`no command server started in ${repo}`);
}

function stopCommandServer(repo: string): void {
  gitswarm(repo, 'daemon', 'stop');
}

function gitswarmAsync(cwd: string, args: string[], env: NodeJS.ProcessEnv = ENV): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(COMMAND, args, {
      cwd,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('close', (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`gitswarm ${args.join(' ')}: ${stderr}`)),
    );
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** (a) one command with the command server (and in-process) against `node -e 0`, interleaved. */
function benchOneCommand(rounds = 30): Record<string, number> {
  const repo = tempRepo();
  try {
    gitswarm(repo, 'init', '--model', 'solo');
    gitswarm(repo, 'agent', 'register', 'owner');
    gitswarm(repo, 'workspace', 'create', '--as', 'owner');
    waitForCommandServer(repo);
    const samples: Record<string, number[]> = {
      floor: [],
      list: [],
      status: [],
      list_node_client: [],
      list_in_process: [],
    };
    const time = (key: string, work: () => unknown) => {
      const start = process.hrtime.bigint();
      work();
      samples[key]?.push(ms(start));
    };
    for (let round = 0; round < rounds; round++) {
      time('floor', () => run(process.execPath, ['-e', '0'], repo));
      time('list', () => gitswarm(repo, 'agent', 'list'));
      time('status', () => gitswarm(repo, 'status'));
      time('list_node_client', () => gitswarmNodeIn(ENV, repo, 'agent', 'list'));
      time('list_in_process', () => gitswarmIn(IN_PROCESS_ENV, repo, 'agent', 'list'));
    }
    stopCommandServer(repo);
    const floor = median(samples.floor ?? []);
    return {
      node_e0_ms: floor,
      agent_list_ms: median(samples.list ?? []),
      status_ms: median(samples.status ?? []),
      agent_list_ratio: median(samples.list ?? []) / floor,
      status_ratio: median(samples.status ?? []) / floor,
      node_client_agent_list_ratio: median(samples.list_node_client ?? []) / floor,
      in_process_agent_list_ratio: median(samples.list_in_process ?? []) / floor,
    };
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
}

/**
 * (a) init → 2× agent register → workspace create → commit → review submit → review approve → merge,
 * the reviewer and the author registered by the workflow (`approver` approves when given).
 */
function runWorkflow(
  cli: (cwd: string, ...args: string[]) => string,
  repo: string,
  names: { reviewer: string; author: string; approver?: string },
): void {
  cli(repo, 'init', '--model', 'solo');
  cli(repo, 'agent', 'register', names.reviewer);
  cli(repo, 'agent', 'register', names.author);
  const created = JSON.parse(cli(repo, 'workspace', 'create', '--as', names.author, '--json'));
  writeFileSync(join(created.worktree, `${names.author}.txt`), `feature of ${names.author}\n`);
  cli(repo, 'commit', '-m', 'Add feature', '--as', names.author);
  cli(repo, 'review', 'submit', created.stream.id, '--as', names.author);
  cli(repo, 'review', 'submit', created.stream.id, 'approve', '--as', names.approver ?? names.reviewer);
  cli(repo, 'merge', created.stream.id, '--as', names.author);
}

/**
 * (a) The workflow above, timed. `mode`: in-process (GITSWARM_NO_DAEMON=1); `cold`: from a fresh
 * repository, where `init` runs in-process and starts the command server the later commands use
 * once it answers; `warm`: the repository was initialized (and its server started) before the
 * clock, and the timed `init` runs again on the server, as every command of an initialized
 * repository does; `steady`: as `warm`, on a server that ran the workflow once already (its code
 * compiled and its caches filled, as in a server that has served an agent for a while).
 * `client`: the `gitswarm` command (the native client where it was built), or Node's client.
 */
function benchWorkflow(
  mode: 'in-process' | 'cold' | 'warm' | 'steady',
  client: 'command' | 'node' = 'command',
): Record<string, number> {
  const env = mode === 'in-process' ? IN_PROCESS_ENV : ENV;
  const command = client === 'node' ? gitswarmNodeIn : gitswarmIn;
  const cli = (cwd: string, ...args: string[]) => command(env, cwd, ...args);
  const floors: number[] = [];
  const workflows: number[] = [];
  for (let round = 0; round < 5; round++) {
    let start = process.hrtime.bigint();
    for (let i = 0; i < 8; i++) run(process.execPath, ['-e', '0'], ROOT);
    floors.push(ms(start));

    const repo = tempRepo();
    try {
      if (mode === 'warm' || mode === 'steady') {
        cli(repo, 'init', '--model', 'solo');
        waitForCommandServer(repo);
      }
      // The first agent registered is the solo repository's maintainer: it approves the second run.
      if (mode === 'steady') runWorkflow(cli, repo, { reviewer: 'owner', author: 'coder' });
      start = process.hrtime.bigint();
      if (mode === 'steady')
        runWorkflow(cli, repo, { reviewer: 'helper', author: 'coder2', approver: 'owner' });
      else runWorkflow(cli, repo, { reviewer: 'owner', author: 'coder' });
      workflows.push(ms(start));
      if (mode !== 'in-process') stopCommandServer(repo);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  }
  const floor = median(floors);
  const workflow = median(workflows);
  return { floor_ms: floor, workflow_ms: workflow, ratio: workflow / floor };
}

/**
 * (b) 8 agents × 25 commits through `gitswarm commit` in swarm mode, vs raw git sequentially; with
 * the repository's command server (started by the set-up commands), or in-process.
 */
async function benchSwarm(
  mode: 'server' | 'in-process',
  agents = 8,
  commits = 25,
): Promise<Record<string, number>> {
  const env = mode === 'server' ? ENV : IN_PROCESS_ENV;
  const repo = tempRepo();
  try {
    gitswarmIn(env, repo, 'init', '--mode', 'swarm');
    const worktrees: string[] = [];
    for (let a = 0; a < agents; a++) {
      gitswarmIn(env, repo, 'agent', 'register', `agent${a}`);
      worktrees.push(
        JSON.parse(gitswarmIn(env, repo, 'workspace', 'create', '--as', `agent${a}`, '--json')).worktree,
      );
    }
    if (mode === 'server') waitForCommandServer(repo);
    const start = process.hrtime.bigint();
    await Promise.all(
      worktrees.map(async (worktree, a) => {
        for (let c = 0; c < commits; c++) {
          writeFileSync(join(worktree, `agent${a}.txt`), `commit ${c}\n`);
          await gitswarmAsync(repo, ['commit', '-m', `agent${a} commit ${c}`, '--as', `agent${a}`], env);
        }
      }),
    );
    const gitswarmMs = ms(start);
    if (mode === 'server') stopCommandServer(repo);
    const landed = Number(
      run('git', ['rev-list', '--count', '--merges', '--first-parent', 'buffer'], repo).trim(),
    );
    return besideRawGit({ gitswarm_ms: gitswarmMs, merges_landed: landed }, agents, commits);
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
}

/** A swarm's figures with the raw-git script timed right after it (bench/git-fixture.ts), and their ratio. */
function besideRawGit(
  swarm: { gitswarm_ms: number; merges_landed: number },
  agents: number,
  commits: number,
): Record<string, number> {
  const rawMs = rawGitSwarm(agents, commits);
  return {
    gitswarm_ms: swarm.gitswarm_ms,
    raw_git_ms: rawMs,
    ratio: swarm.gitswarm_ms / rawMs,
    merges_landed: swarm.merges_landed,
  };
}

/**
 * (b, long-lived) the same swarm, but each agent is one long-lived process calling the core API
 * (`commitWorkspace`) for its commits, as an agent behind the MCP server would: no process start,
 * store open or module loading per commit. Timed from the moment all agents are ready.
 */
export async function benchSwarmLongLived(
  agents = 8,
  commits = 25,
): Promise<{ gitswarm_ms: number; merges_landed: number }> {
  const repo = tempRepo();
  try {
    gitswarm(repo, 'init', '--mode', 'swarm');
    for (let a = 0; a < agents; a++) {
      gitswarm(repo, 'agent', 'register', `agent${a}`);
      gitswarm(repo, 'workspace', 'create', '--as', `agent${a}`);
    }
    const worker = fileURLToPath(new URL('./swarm-agent.js', import.meta.url));
    const children = Array.from({ length: agents }, (_, a) =>
      spawn(process.execPath, [worker, repo, `agent${a}`, String(commits)], {
        cwd: repo,
        env: ENV,
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    const said = (child: (typeof children)[number], word: string) =>
      new Promise<void>((resolvePromise, reject) => {
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk) => {
          stdout += chunk;
          if (stdout.split('\n').includes(word)) resolvePromise();
        });
        child.stderr.on('data', (chunk) => {
          stderr += chunk;
        });
        child.on('close', (code) =>
          reject(new Error(`swarm agent exited ${code} before "${word}": ${stderr}`)),
        );
      });
    await Promise.all(children.map((child) => said(child, 'ready')));
    const done = children.map((child) => said(child, 'done'));
    const start = process.hrtime.bigint();
    for (const child of children) child.stdin.end('go\n');
    await Promise.all(done);
    const longLivedMs = ms(start);
    const landed = Number(
      run('git', ['rev-list', '--count', '--merges', '--first-parent', 'buffer'], repo).trim(),
    );
    return { gitswarm_ms: longLivedMs, merges_landed: landed };
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
}

/**
 * (c) time of one swarm-mode commit (a merge) with 1 and with 200 active streams in the
 * repository: both repositories are set up first, then their commits alternate, so the machine's
 * drift falls on both alike.
 */
function benchMergeScaling(rounds = 7): Record<string, number> {
  const setUp = (activeStreams: number) => {
    const repo = tempRepo();
    gitswarm(repo, 'init', '--mode', 'swarm');
    gitswarm(repo, 'agent', 'register', 'owner');
    for (let s = 0; s < activeStreams - 1; s++) {
      gitswarm(repo, 'agent', 'register', `idle${s}`);
      gitswarm(repo, 'workspace', 'create', '--as', `idle${s}`);
    }
    const created = JSON.parse(gitswarm(repo, 'workspace', 'create', '--as', 'owner', '--json'));
    return { repo, worktree: created.worktree as string, samples: [] as number[] };
  };
  const repos = [setUp(1), setUp(200)] as const;
  try {
    for (let i = 0; i < rounds; i++) {
      for (const { repo, worktree, samples } of repos) {
        writeFileSync(join(worktree, 'f.txt'), `v${i}\n`);
        const start = process.hrtime.bigint();
        gitswarm(repo, 'commit', '-m', `change ${i}`, '--as', 'owner');
        samples.push(ms(start));
      }
    }
  } finally {
    for (const { repo } of repos) {
      stopCommandServer(repo);
      rmSync(repo, { recursive: true, force: true });
    }
  }
  const [one, many] = repos.map(({ samples }) => median(samples)) as [number, number];
  return { one_stream_ms: one, two_hundred_streams_ms: many, ratio: many / one };
}

function print(title: string, figures: Record<string, number | string>, target?: string): void {
  const parts = Object.entries(figures).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toFixed(2) : v}`);
  console.log(`${title}: ${parts.join('  ')}${target ? `  (target ${target})` : ''}`);
}

async function modeB(): Promise<void> {
  const { benchModeBWorkflow, benchModeBSwarm } = await import('./mode-b.js');
  print('(e) Mode B: the 8-command workflow connected vs Mode A', await benchModeBWorkflow(), 'ratio ≤ 1.5');
  print('(f) Mode B: swarm, 2 clones × 4 agents × 10 commits', await benchModeBSwarm(), 'all landed');
}

async function mcp(): Promise<void> {
  const { benchMcpStatus, benchMcpSwarm } = await import('./mcp.js');
  print('(g) MCP: swarm 8 stdio servers × 25 commit calls vs raw git', await benchMcpSwarm(), 'ratio ≤ 1.2');
  print('(h) MCP: status tool call latency', await benchMcpStatus());
}

async function main(): Promise<void> {
  console.log(`gitswarm bench — node ${process.version}, ${new Date().toISOString()}`);
  console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  // `npm run bench -- mode-b` runs only the Mode B figures; `-- mcp` only MCP's.
  if (process.argv[2] === 'mode-b') return modeB();
  if (process.argv[2] === 'mcp') return mcp();
  // `npm run bench -- cli` runs only the command-line figures (a) and (b); `-- commands` only (a).
  print('(a) one command with the command server vs node -e 0', benchOneCommand(), 'ratios ≤ 1.3');
  print('(a) 8-command workflow in-process vs node -e 0 ×8', benchWorkflow('in-process'), 'ratio ≤ 2');
  print('(a) 8-command workflow, command server warm, vs node -e 0 ×8', benchWorkflow('warm'), 'ratio ≤ 1.5');
  print('(a) the same through Node’s client (node bin/gitswarm.js)', benchWorkflow('warm', 'node'));
  print('(a) 8-command workflow, command server that ran it once, vs node -e 0 ×8', benchWorkflow('steady'));
  print(
    '(a) 8-command workflow from a fresh repository (server starting) vs node -e 0 ×8',
    benchWorkflow('cold'),
  );
  if (process.argv[2] === 'commands') return;
  const swarm = await benchSwarm('server');
  print(
    '(b) swarm 8 agents × 25 commits, a CLI process per commit, command server, vs raw git',
    swarm,
    'ratio ≤ 1.5',
  );
  print('(b) the same, in-process (GITSWARM_NO_DAEMON=1), vs raw git', await benchSwarm('in-process'));
  console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  if (process.argv[2] === 'cli') return;
  print(
    "(b') swarm 8 long-lived agent processes × 25 commitWorkspace calls vs raw git",
    besideRawGit(await benchSwarmLongLived(), 8, 25),
  );
  print('(c) merge with 1 vs 200 active streams', benchMergeScaling(), 'flat: ratio ≈ 1');
  try {
    const stabilize = (await import('./stabilize.js')) as {
      benchStabilize?: () => Promise<Record<string, number | string>>;
    };
    if (stabilize.benchStabilize) print('(d) stabilize', await stabilize.benchStabilize());
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
  }
  await modeB();
  await mcp();
  for (const [title, figures, target] of await (await import('./scale.js')).benchScale())
    print(title, figures, target);
}

// Run only as the entry point: bench/mode-c.ts imports benchSwarmLongLived from here.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
