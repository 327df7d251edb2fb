/**
 * A control group per stabilize run: memory, process count and CPU share are limited for the
 * whole run (every process it starts), not per process, and every process left behind is killed
 * with the group when the run ends.
 *  - cgroup v2 (unified hierarchy with the memory and pids controllers): `<mount>/gitswarm/run-…`,
 *    with `memory.max` (+ `memory.swap.max` 0), `pids.max`, `cpu.weight`; killed by `cgroup.kill`.
 *  - cgroup v1 (a memory and a pids hierarchy, as on hybrid hosts): a child `gitswarm/run-…` of
 *    this process's own group in each hierarchy, with `memory.limit_in_bytes` (and the same
 *    memory+swap limit), `pids.max`, `cpu.shares`; killed by closing `pids.max` and signalling.
 * Creating groups needs write access to the hierarchy (root, or a delegated subtree); where there
 * is none, the caller falls back to per-process rlimits and says so.
 *
 * Joining is race-free: the sandbox is started through a fixed `sh` line that writes its own pid
 * into the group's `cgroup.procs` and only then execs the run, so no process of the run ever
 * exists outside the group.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RunLimits {
  memoryMb: number;
  maxProcesses: number;
  /** Relative CPU share, 1–10000 (cgroup v2 `cpu.weight`; 100 is everyone's default). */
  cpuWeight: number;
  /**
   * Run only on CPU time nothing else wants: the group's `cpu.idle` where the kernel has it (5.15
   * and later), on top of the weight.
   */
  cpuIdle?: boolean;
}

/** Sets `cpu.idle` in a group's folder when asked and the kernel has it; whether it did. */
function setCpuIdle(dir: string, limits: RunLimits): boolean {
  const file = join(dir, 'cpu.idle');
  if (!limits.cpuIdle || !existsSync(file)) return false;
  try {
    writeFileSync(file, '1');
    return true;
  } catch {
    return false; // the weight still applies
  }
}

/** How often a limit was hit during the run. */
export interface LimitHits {
  /** Processes the kernel killed because the run's memory was full. */
  oomKills: number;
  /** Process creations refused because the run had `pids.max` processes. */
  forkRefusals: number;
}

export interface RunCgroup {
  readonly version: 1 | 2;
  /** Whether the group has the cpu controller: its CPU share (and cpu.idle) apply. */
  readonly cpuControlled: boolean;
  /** The `cgroup.procs` files the starting process writes its own pid into. */
  readonly procsFiles: readonly string[];
  /** One line for the log: where and what. */
  readonly description: string;
  hits(): LimitHits;
  /**
   * Kills every process in the group now (no waiting): what the run left behind, even outside its
   * process group, must not outlive it nor hold its output open.
   */
  killAll(): void;
  /** Kills every process still in the group and removes it. */
  destroy(): Promise<void>;
}

export type RunCgroupSetup = { ok: true; cgroup: RunCgroup } | { ok: false; reason: string };

interface Mount {
  path: string;
  root: string;
  fsType: string;
  options: string[];
}

function readMounts(): Mount[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [fsType, , superOptions] = right.split(' ');
    if (!fsType || fields.length < 5) continue;
    mounts.push({
      path: unescapeMountPath(fields[4] ?? ''),
      root: unescapeMountPath(fields[3] ?? ''),
      fsType,
      options: (superOptions ?? '').split(','),
    });
  }
  return mounts;
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** This process's group in each hierarchy: `2` for the unified one, else the controller names. */
function ownGroups(): Map<string, string> {
  const groups = new Map<string, string>();
  let text = '';
  try {
    text = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return groups;
  }
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, id, controllers, path] = match as unknown as [string, string, string, string];
    if (id === '0' && controllers === '') groups.set('2', path);
    for (const controller of controllers.split(',')) if (controller) groups.set(controller, path);
  }
  return groups;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** `key value` lines (memory.events, pids.events, memory.oom_control) as a lookup. */
function readCounter(path: string, key: string): number {
  for (const line of readText(path).split('\n')) {
    const [name, value] = line.trim().split(/\s+/);
    if (name === key) return Number(value) || 0;
  }
  return 0;
}

function errorText(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ? `${e.code} (${e.path ?? e.message})` : String(error);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The pause before the n-th look at a group being emptied: its processes are usually gone within a
 * few milliseconds of the kill, and a run's verdict waits for the group's removal, so the first
 * looks come soon; later ones every 20 ms.
 */
function emptyingPauseMs(attempt: number): number {
  return attempt < 5 ? 2 ** attempt : 20;
}

function runName(): string {
  return `run-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Kills what is in the group until it is empty (bounded), then removes the directory. */
async function emptyAndRemove(dirs: readonly string[], killAll: () => void): Promise<void> {
  for (let attempt = 0; attempt < 250; attempt++) {
    killAll();
    if (dirs.every((dir) => !existsSync(dir) || readText(join(dir, 'cgroup.procs')).trim() === '')) break;
    await sleep(emptyingPauseMs(attempt));
  }
  for (const dir of dirs) {
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        if (existsSync(dir)) rmdirSync(dir);
        break;
      } catch {
        // The last processes are still exiting.
        await sleep(emptyingPauseMs(attempt));
      }
    }
  }
}

function signalProcs(dir: string): void {
  for (const pid of readText(join(dir, 'cgroup.procs')).split('\n')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function createV2(mount: Mount, limits: RunLimits): RunCgroupSetup {
  const available = readText(join(mount.path, 'cgroup.controllers')).trim().split(/\s+/);
  const missing = ['memory', 'pids'].filter((c) => !available.includes(c));
  if (missing.length > 0) {
    return {
      ok: false,
      reason: `cgroup v2 at ${mount.path} has no ${missing.join(' and ')} controller (they are bound to cgroup v1 here)`,
    };
  }
  const base = join(mount.path, 'gitswarm');
  const dir = join(base, runName());
  // Each controller on its own: the cpu controller may be refused (real-time processes) without
  // costing the limits that matter.
  const enable = (parent: string, controller: string) => {
    const control = join(parent, 'cgroup.subtree_control');
    if (readText(control).split(/\s+/).includes(controller)) return true;
    try {
      writeFileSync(control, `+${controller}`);
      return true;
    } catch (error) {
      if (controller !== 'cpu') throw error;
      return false;
    }
  };
  let cpu = available.includes('cpu');
  try {
    for (const parent of [mount.path, base]) {
      if (parent === base) mkdirSync(base, { recursive: true });
      enable(parent, 'memory');
      enable(parent, 'pids');
      if (cpu) cpu = enable(parent, 'cpu');
    }
    mkdirSync(dir);
  } catch (error) {
    return { ok: false, reason: `cannot create a cgroup v2 group under ${mount.path}: ${errorText(error)}` };
  }
  const wanted = ['memory', 'pids', ...(cpu ? ['cpu'] : [])];
  let idle = false;
  try {
    writeFileSync(join(dir, 'memory.max'), String(limits.memoryMb * 1024 * 1024));
    if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
    writeFileSync(join(dir, 'pids.max'), String(limits.maxProcesses));
    if (wanted.includes('cpu')) writeFileSync(join(dir, 'cpu.weight'), String(limits.cpuWeight));
    idle = wanted.includes('cpu') && setCpuIdle(dir, limits);
  } catch (error) {
    rmdirSync(dir);
    return { ok: false, reason: `cannot set limits in ${dir}: ${errorText(error)}` };
  }
  const killFile = join(dir, 'cgroup.kill');
  const killAll = () => {
    if (existsSync(killFile)) {
      try {
        writeFileSync(killFile, '1');
        return;
      } catch {
        // fall through to signalling each process
      }
    }
    signalProcs(dir);
  };
  return {
    ok: true,
    cgroup: {
      version: 2,
      cpuControlled: wanted.includes('cpu'),
      procsFiles: [join(dir, 'cgroup.procs')],
      description: `cgroup v2 ${dir}: memory.max ${limits.memoryMb} MB, pids.max ${limits.maxProcesses}${wanted.includes('cpu') ? `, cpu.weight ${limits.cpuWeight}${idle ? ', cpu.idle' : ''}` : ''}`,
      hits: () => ({
        oomKills: readCounter(join(dir, 'memory.events'), 'oom_kill'),
        forkRefusals: readCounter(join(dir, 'pids.events'), 'max'),
      }),
      killAll,
      destroy: () => emptyAndRemove([dir], killAll),
    },
  };
}

function createV1(mounts: Mount[], limits: RunLimits): RunCgroupSetup {
  const own = ownGroups();
  const hierarchy = (controller: string) => {
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.options.includes(controller));
    const path = own.get(controller);
    if (!mount || path === undefined) return undefined;
    // The mount shows the hierarchy from `mount.root` down (a container sees only its part).
    const rel =
      mount.root === '/' ? path : path.startsWith(mount.root) ? path.slice(mount.root.length) : null;
    return rel === null ? undefined : join(mount.path, rel, 'gitswarm', name);
  };
  const name = runName();
  const memory = hierarchy('memory');
  const pids = hierarchy('pids');
  const cpu = hierarchy('cpu');
  if (!memory || !pids) {
    return {
      ok: false,
      reason: 'no cgroup v2 with memory and pids, and no cgroup v1 memory and pids hierarchies',
    };
  }
  const dirs = [memory, pids, ...(cpu ? [cpu] : [])];
  const created: string[] = [];
  let idle = false;
  try {
    for (const dir of dirs) {
      mkdirSync(dir, { recursive: true });
      created.push(dir);
    }
    const bytes = String(limits.memoryMb * 1024 * 1024);
    writeFileSync(join(memory, 'memory.limit_in_bytes'), bytes);
    // memory+swap no larger than memory: the run cannot swap its way past the limit.
    if (existsSync(join(memory, 'memory.memsw.limit_in_bytes'))) {
      writeFileSync(join(memory, 'memory.memsw.limit_in_bytes'), bytes);
    }
    writeFileSync(join(pids, 'pids.max'), String(limits.maxProcesses));
    if (cpu) {
      writeFileSync(
        join(cpu, 'cpu.shares'),
        String(Math.max(2, Math.round((limits.cpuWeight * 1024) / 100))),
      );
      idle = setCpuIdle(cpu, limits);
    }
  } catch (error) {
    for (const dir of created.reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        // best effort
      }
    }
    return { ok: false, reason: `cannot create cgroup v1 groups: ${errorText(error)}` };
  }
  // Signals only: closing pids.max here would count the strays' forks as the run's refusals.
  const killAll = () => {
    for (const dir of dirs) signalProcs(dir);
  };
  return {
    ok: true,
    cgroup: {
      version: 1,
      cpuControlled: cpu !== undefined,
      procsFiles: dirs.map((dir) => join(dir, 'cgroup.procs')),
      description: `cgroup v1 ${pids}: memory limit ${limits.memoryMb} MB, pids.max ${limits.maxProcesses}${cpu ? `, cpu.shares for weight ${limits.cpuWeight}${idle ? ', cpu.idle' : ''}` : ''}`,
      hits: () => ({
        oomKills: readCounter(join(memory, 'memory.oom_control'), 'oom_kill'),
        forkRefusals: readCounter(join(pids, 'pids.events'), 'max'),
      }),
      killAll,
      destroy: async () => {
        try {
          // No new process can start while the group is emptied.
          writeFileSync(join(pids, 'pids.max'), '0');
        } catch {
          // the signals below still empty it
        }
        await emptyAndRemove(dirs, killAll);
      },
    },
  };
}

/** Creates the group for one run: cgroup v2 where it has the controllers, else v1, else why not. */
export function createRunCgroup(limits: RunLimits): RunCgroupSetup {
  const mounts = readMounts();
  const unified = mounts.find((m) => m.fsType === 'cgroup2');
  let v2Reason = 'no cgroup v2 mounted';
  if (unified) {
    const v2 = createV2(unified, limits);
    if (v2.ok) return v2;
    v2Reason = v2.reason;
  }
  const v1 = createV1(mounts, limits);
  if (v1.ok) return v1;
  return { ok: false, reason: `${v2Reason}; ${v1.reason}` };
}

let lowCpuShare: Promise<boolean> | undefined;

/**
 * Whether a run here can be given a CPU share below everyone else's (a group with the cpu
 * controller can be made); found once per process by making one.
 */
export function lowCpuShareAvailable(): Promise<boolean> {
  lowCpuShare ??= (async () => {
    const setup = createRunCgroup({ memoryMb: 16, maxProcesses: 1, cpuWeight: 1, cpuIdle: true });
    if (!setup.ok) return false;
    await setup.cgroup.destroy();
    return setup.cgroup.cpuControlled;
  })();
  return lowCpuShare;
}

/**
 * The fixed `sh` line that joins the group and then execs the run: its arguments are the number
 * of `cgroup.procs` files, the files, then the run's argument vector (never part of the text).
 */
export function joinCgroupArgv(cgroup: RunCgroup, argv: readonly string[]): string[] {
  return [
    '/bin/sh',
    '-c',
    'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || { echo "gitswarm: cannot join the run cgroup" >&2; exit 125; }; shift; n=$((n - 1)); done; exec "$@"',
    'gitswarm-cgroup',
    String(cgroup.procsFiles.length),
    ...cgroup.procsFiles,
    ...argv,
  ];
}
