/**
 * Limits per run, not per process: the whole run is in one cgroup, so many processes together hit
 * `pids.max` and several processes together hit the memory limit, and nothing of the run (nor its
 * group) is left afterwards. Skipped, with the reason printed, only where no cgroup can be made.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunCgroup, lowCpuShareAvailable } from '../../src/engine/cgroup.js';
import { assertSandboxAvailable, runSandboxed, type SandboxRunOptions } from '../../src/engine/sandbox.js';
import { openStabilizeLog, runStabilizeCommand } from '../../src/engine/stabilize-run.js';
import { processesWith } from '../helpers/processes.js';

const probe = createRunCgroup({ memoryMb: 64, maxProcesses: 16, cpuWeight: 100 });
const cgroupReason = probe.ok ? null : probe.reason;
if (probe.ok) await probe.cgroup.destroy();
else console.log(`[sandbox-limits] cgroup tests skipped: no cgroup can be created here: ${cgroupReason}`);

/**
 * The CPU share the kernel gives the group of process `pid` (cgroup v2 `cpu.weight`, v1
 * `cpu.shares`), read from the group's own files, with ` idle` when its `cpu.idle` is set;
 * undefined when it has no CPU controller.
 */
function cpuShareOf(pid: number): string | undefined {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => {
      const [left = '', right = ''] = line.split(' - ');
      const fields = left.split(' ');
      const [fsType = '', , options = ''] = right.split(' ');
      return { root: fields[3] ?? '', path: fields[4] ?? '', fsType, options: options.split(',') };
    });
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const [, controllers = '', path = ''] = line.split(':');
    const v1 = controllers.split(',').includes('cpu');
    const mount = mounts.find((m) =>
      v1
        ? m.fsType === 'cgroup' && m.options.includes('cpu')
        : line.startsWith('0::') && m.fsType === 'cgroup2',
    );
    if (!mount || !path.startsWith(mount.root)) continue;
    const file = join(
      mount.path,
      path.slice(mount.root === '/' ? 0 : mount.root.length),
      v1 ? 'cpu.shares' : 'cpu.weight',
    );
    if (!existsSync(file)) continue;
    const idleFile = join(file, '..', 'cpu.idle');
    const idle = existsSync(idleFile) && readFileSync(idleFile, 'utf8').trim() === '1';
    return `${readFileSync(file, 'utf8').trim()}${idle ? ' idle' : ''}`;
  }
  return undefined;
}

/** Three processes of 40 MB each at once; the command fails when any of them was killed. */
const THREE_TIMES_40_MB = [
  'hold="b = b\'x\' * (40 << 20); import time; time.sleep(2)"',
  'python3 -c "$hold" & a=$!',
  'python3 -c "$hold" & b=$!',
  'python3 -c "$hold" & c=$!',
  'status=0',
  'for p in $a $b $c; do wait $p || status=1; done',
  'echo "status=$status"',
  'exit $status',
].join('\n');

describe.skipIf(cgroupReason !== null)('limits per run (cgroup)', () => {
  let root: string;
  let worktree: string;
  let output = '';

  function run(options: Partial<SandboxRunOptions> & { command: string }) {
    output = '';
    return runSandboxed({
      workdir: worktree,
      mode: 'bubblewrap',
      timeoutMs: 30_000,
      memoryMb: 2048,
      output: (chunk) => {
        output += chunk;
      },
      ...options,
    });
  }

  beforeAll(async () => {
    await assertSandboxAvailable('bubblewrap');
    root = mkdtempSync(join(tmpdir(), 'gitswarm-limits-'));
    worktree = join(root, 'wt');
    mkdirSync(worktree);
    writeFileSync(join(worktree, 'README'), 'limits\n');
    execFileSync('python3', ['--version']);
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('a run that starts many processes hits pids.max; the same run under the default limit does not', async () => {
    const many = 'i=0; while [ $i -lt 60 ]; do sleep 1 & i=$((i+1)); done; wait; echo finished';
    const limited = await run({ command: many, maxProcesses: 16 });
    expect(limited.cgroup).not.toBeNull();
    expect(limited.limits).toContain('pids.max 16');
    expect(limited.hits.forkRefusals).toBeGreaterThan(0);
    expect(output).toMatch(/fork|Resource temporarily unavailable/i);

    const roomy = await run({ command: many });
    expect(roomy.hits.forkRefusals).toBe(0);
    expect(roomy.exitCode).toBe(0);
    expect(output).toContain('finished');
  });

  it('several processes that together pass the memory limit are killed, though each alone is under it', async () => {
    const limited = await run({ command: THREE_TIMES_40_MB, memoryMb: 64 });
    expect(limited.limits).toMatch(/memory(\.max| limit) 64 MB/);
    expect(limited.hits.oomKills).toBeGreaterThan(0);
    expect(limited.exitCode).not.toBe(0);

    const alone = await run({
      command: 'python3 -c "b = b\'x\' * (40 << 20); import time; time.sleep(1)" && echo ALONE_OK',
      memoryMb: 64,
    });
    expect(alone.hits.oomKills).toBe(0);
    expect(output).toContain('ALONE_OK');

    const roomy = await run({ command: THREE_TIMES_40_MB, memoryMb: 512 });
    expect(roomy.hits.oomKills).toBe(0);
    expect(output).toContain('status=0');
    expect(roomy.exitCode).toBe(0);
  });

  it('a stabilize run killed by the memory limit fails and says why in its log and progress', async () => {
    const repo = join(root, 'repo');
    mkdirSync(repo);
    const git = (...args: string[]) =>
      execFileSync('git', args, {
        cwd: repo,
        encoding: 'utf8',
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 't',
          GIT_AUTHOR_EMAIL: 't@example.invalid',
          GIT_COMMITTER_NAME: 't',
          GIT_COMMITTER_EMAIL: 't@example.invalid',
        },
      }).trim();
    git('init', '-q', '-b', 'main');
    writeFileSync(join(repo, 'test.sh'), THREE_TIMES_40_MB);
    git('add', '-A');
    git('commit', '-q', '-m', 'memory-hungry tests');
    const log = openStabilizeLog({ root: repo, commonDir: join(repo, '.git') }, new Date());
    const progress: string[] = [];
    const result = await runStabilizeCommand(
      { root: repo, commonDir: join(repo, '.git') },
      {
        commit: git('rev-parse', 'HEAD'),
        command: 'sh test.sh',
        sandbox: 'bubblewrap',
        timeoutMs: 30_000,
        memoryMb: 64,
        label: 'run',
        log,
        progress: (line) => progress.push(line),
      },
    );
    await log.close();
    expect(result.outcome).toBe('failed');
    expect(progress.join('\n')).toMatch(
      /failed \(exit 1; the run's memory limit of 64 MB was reached \(\d+ process\(es\) killed\)/,
    );
    expect(readFileSync(log.path, 'utf8')).toContain("the run's memory limit of 64 MB was reached");
  });

  it('a background run gets the least CPU share from the kernel, any other the usual one', async () => {
    const shares: Array<string | undefined> = [];
    for (const background of [true, false]) {
      let share: string | undefined;
      let pid = 0;
      // Read once the command runs: by then its process has joined the run's group.
      const result = await run({
        command: 'echo ready; sleep 0.5',
        mode: 'none',
        background,
        started: (started) => {
          pid = started;
        },
        output: (chunk) => {
          if (chunk.includes('ready')) share = cpuShareOf(pid);
        },
      });
      expect(result.exitCode).toBe(0);
      shares.push(share);
    }
    // The stabilizer starts a bisection's first round early only where this holds.
    expect(await lowCpuShareAvailable()).toBe(shares[1] !== undefined);
    if (shares[1] === undefined) {
      console.log('[sandbox-limits] the run cgroups have no CPU controller here: shares not compared');
      return;
    }
    console.log(`[sandbox-limits] CPU shares of a background run and another: ${shares.join(', ')}`);
    const [background, usual] = shares;
    expect(['100', '1024']).toContain(usual);
    // Weight 1 (cgroup v2) or 1 × 1024 / 100 = 10 shares (v1); where the kernel has cpu.idle, the
    // group is idle (and v1 shows the idle weight, 3).
    expect(background).toMatch(/^(1|10|\d+ idle)$/);
  });

  it('kills what the run left behind, even outside its process group, as the run ends, and removes its cgroup', async () => {
    // Without bubblewrap's PID namespace, and in a session of its own, only the cgroup still holds
    // it; it holds the run's output open too, so the run would last as long as it did (and count as
    // timed out, since the 31 s outlast the 30 s allowed) were it not killed when the run's top process exits.
    const token = `31.${process.pid}`;
    // The pause lets the job leave the process group before the command exits.
    const result = await run({ command: `setsid sleep ${token} & sleep 0.3; echo started`, mode: 'none' });
    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    // Killed at once, not let go after the 2 s a stray nothing could kill gets.
    expect(result.durationMs).toBeLessThan(1500);
    expect(output).toContain('started');
    const dir = /cgroup v[12] (\S+):/.exec(result.limits)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir as string)).toBe(false);
    expect(processesWith(`sleep ${token}`)).toEqual([]);
  });
});
