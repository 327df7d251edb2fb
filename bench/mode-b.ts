/**
 * Mode B on loopback, measured in the same run as its Mode A counterpart:
 *  (e) the 8-command workflow on a clone connected to `gitswarm serve` vs the same commands in
 *      Mode A (rounds interleaved, so the machine's drift falls on both alike);
 *  (f) swarm mode on 2 clones × 4 agents × 10 commits, one `gitswarm commit` process per commit,
 *      all at once: every commit lands on the shared buffer; the time and the buffer pushes that
 *      lost the race (`push_retries`, each a fetch and a merge made again on the new head).
 * The server is a separate process (SQLite in a temporary data dir), as a team would run it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GIT_IDENTITY } from './git-fixture.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
/** The `gitswarm` command as installed (the native client where the build made one). */
const COMMAND = join(ROOT, 'bin', 'gitswarm');

interface World {
  dir: string;
  env: NodeJS.ProcessEnv;
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function newWorld(): World {
  const dir = mkdtempSync(join(tmpdir(), 'gitswarm-bench-b-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...GIT_IDENTITY,
    // The credentials file of the bench, never the user's own.
    XDG_CONFIG_HOME: join(dir, 'config'),
    NO_COLOR: '1',
  };
  for (const key of Object.keys(env)) if (key.startsWith('GITSWARM_')) delete env[key];
  return { dir, env };
}

function run(world: World, cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, {
    cwd,
    env: world.env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function gitswarm(world: World, cwd: string, ...args: string[]): string {
  return run(world, COMMAND, args, cwd);
}

function gitswarmAsync(world: World, cwd: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(COMMAND, args, {
      cwd,
      env: world.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('close', (code) =>
      code === 0
        ? resolvePromise(stdout)
        : reject(new Error(`gitswarm ${args.join(' ')}: ${stderr}${stdout}`)),
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolvePromise(address.port) : reject()));
    });
  });
}

/** `gitswarm serve` in its own process; resolves once it answers /healthz. */
async function startServer(world: World): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const dataDir = join(world.dir, 'server');
  const child = spawn(COMMAND, ['serve', '--port', String(port), '--data-dir', dataDir], {
    env: { ...world.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gitswarm serve exited: ${stderr}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`gitswarm serve did not answer in 30 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    stop: () =>
      new Promise((resolvePromise) => {
        child.once('close', () => resolvePromise());
        child.kill('SIGTERM');
      }),
  };
}

/** A bare remote with `main`, and a clone of it named `name`. */
function remoteWithClone(world: World, tag: string, name: string): { remote: string; clone: string } {
  const remote = join(world.dir, `${tag}.git`);
  run(world, 'git', ['init', '-q', '--bare', '-b', 'main', remote], world.dir);
  const seed = join(world.dir, `${tag}-seed`);
  run(world, 'git', ['init', '-q', '-b', 'main', seed], world.dir);
  writeFileSync(join(seed, 'README.md'), '# bench\n');
  run(world, 'git', ['add', '-A'], seed);
  run(world, 'git', ['commit', '-q', '-m', 'initial'], seed);
  run(world, 'git', ['push', '-q', remote, 'main'], seed);
  const clone = join(world.dir, `${tag}-${name}`);
  run(world, 'git', ['clone', '-q', remote, clone], world.dir);
  return { remote, clone };
}

/** The 8 commands of bench (a), with names unique on the server for this round. */
function workflow(world: World, repo: string, round: number, init: string[]): number {
  const owner = `owner${round}`;
  const coder = `coder${round}`;
  const start = process.hrtime.bigint();
  gitswarm(world, repo, 'init', '--model', 'solo', ...init);
  gitswarm(world, repo, 'agent', 'register', owner);
  gitswarm(world, repo, 'agent', 'register', coder);
  const created = JSON.parse(gitswarm(world, repo, 'workspace', 'create', '--as', coder, '--json'));
  writeFileSync(join(created.worktree, 'feature.txt'), `feature ${round}\n`);
  gitswarm(world, repo, 'commit', '-m', 'Add feature', '--as', coder);
  gitswarm(world, repo, 'review', 'submit', created.stream.id, '--as', coder);
  gitswarm(world, repo, 'review', 'submit', created.stream.id, 'approve', '--as', owner);
  gitswarm(world, repo, 'merge', created.stream.id, '--as', coder);
  return ms(start);
}

/** (e) the 8-command workflow connected vs Mode A, 5 interleaved rounds each. */
export async function benchModeBWorkflow(rounds = 5): Promise<Record<string, number>> {
  const world = newWorld();
  const server = await startServer(world);
  try {
    const local: number[] = [];
    const connected: number[] = [];
    for (let round = 0; round < rounds; round++) {
      local.push(workflow(world, remoteWithClone(world, `a${round}`, 'clone').clone, round, []));
      const { clone } = remoteWithClone(world, `b${round}`, 'clone');
      connected.push(workflow(world, clone, round + rounds, ['--server', server.url]));
    }
    const modeA = median(local);
    const modeB = median(connected);
    return { mode_a_ms: modeA, mode_b_ms: modeB, ratio: modeB / modeA };
  } finally {
    await server.stop();
    rmSync(world.dir, { recursive: true, force: true });
  }
}

/** (f) swarm mode: `clones` clones × `agents` agents each × `commits` commits, all at once. */
export async function benchModeBSwarm(clones = 2, agents = 4, commits = 10): Promise<Record<string, number>> {
  const world = newWorld();
  const server = await startServer(world);
  try {
    const { remote, clone: first } = remoteWithClone(world, 'swarm', 'clone0');
    gitswarm(world, first, 'init', '--server', server.url, '--mode', 'swarm');
    gitswarm(world, first, 'agent', 'register', 'owner');
    const repoId = JSON.parse(gitswarm(world, first, 'status', '--json')).server.repo_id as string;
    const dirs = [first];
    for (let c = 1; c < clones; c++) {
      const dir = join(world.dir, `swarm-clone${c}`);
      run(world, 'git', ['clone', '-q', remote, dir], world.dir);
      gitswarm(world, dir, 'init', '--server', server.url, '--repo', repoId);
      dirs.push(dir);
    }
    const workers: { dir: string; agent: string; worktree: string }[] = [];
    for (const [c, dir] of dirs.entries()) {
      for (let a = 0; a < agents; a++) {
        const agent = `c${c}a${a}`;
        gitswarm(world, dir, 'agent', 'register', agent);
        const created = JSON.parse(gitswarm(world, dir, 'workspace', 'create', '--as', agent, '--json'));
        workers.push({ dir, agent, worktree: created.worktree });
      }
    }
    let retries = 0;
    const start = process.hrtime.bigint();
    await Promise.all(
      workers.map(async ({ dir, agent, worktree }) => {
        for (let i = 0; i < commits; i++) {
          mkdirSync(worktree, { recursive: true });
          writeFileSync(join(worktree, `${agent}.txt`), `commit ${i}\n`);
          const out = JSON.parse(
            await gitswarmAsync(world, dir, [
              'commit',
              '-m',
              `${agent} commit ${i}`,
              '--as',
              agent,
              '--json',
            ]),
          );
          if (!out.merged) throw new Error(`${agent} commit ${i} did not merge`);
          retries += out.push_retries ?? 0;
        }
      }),
    );
    const elapsed = ms(start);
    run(world, 'git', ['fetch', '-q', 'origin', 'buffer'], first);
    const landed = workers.filter(({ agent }) => {
      const text = run(world, 'git', ['show', `origin/buffer:${agent}.txt`], first);
      return text === `commit ${commits - 1}\n`;
    }).length;
    const merges = Number(
      run(world, 'git', ['rev-list', '--count', '--merges', '--first-parent', 'origin/buffer'], first).trim(),
    );
    return {
      commits: workers.length * commits,
      elapsed_ms: elapsed,
      per_commit_ms: elapsed / (workers.length * commits),
      merges_on_buffer: merges,
      agents_with_last_commit: landed,
      push_retries: retries,
    };
  } finally {
    await server.stop();
    rmSync(world.dir, { recursive: true, force: true });
  }
}
