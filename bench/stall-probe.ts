/**
 * A bystander that watches the machine during a benchmark: a process of its own that does nothing
 * but ask for a timer every millisecond. It has no work to queue behind, so when its timer comes
 * 10 ms or more late, the machine ran none of its processes then (on a virtual machine: the host
 * did not run it). Latencies the server shows in those moments are the machine's, not the
 * server's; the benchmark prints both side by side so a reader can tell them apart.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Lateness from this many milliseconds on counts as a stall. */
export const STALL_MS = 10;
const TICK_MS = 1;

export interface StallReport {
  /** The largest lateness of the bystander's timer (ms). */
  max: number;
  /** How many times it was STALL_MS or more late. */
  stalls: number;
}

export interface StallProbe {
  /** What was seen since the last call (or the start), and a fresh start for the next. */
  measure(): Promise<StallReport>;
  stop(): void;
}

/** Starts the bystander process; resolves once it ticks. */
export async function startStallProbe(): Promise<StallProbe> {
  const child = fork(fileURLToPath(import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await nextMessage(child);
  return {
    async measure() {
      child.send('measure');
      return (await nextMessage(child)) as StallReport;
    },
    stop: () => child.kill(),
  };
}

function nextMessage(child: ChildProcess): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the stall probe exited with ${code}`));
    child.once('exit', onExit);
    child.once('message', (message) => {
      child.off('exit', onExit);
      resolve(message);
    });
  });
}

/** The bystander itself: ticks, and answers each "measure" with what it saw since the last one. */
function watch(): void {
  let report: StallReport = { max: 0, stalls: 0 };
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = now - last - TICK_MS;
    last = now;
    if (late > report.max) report.max = late;
    if (late >= STALL_MS) report.stalls++;
  }, TICK_MS);
  process.on('message', () => {
    process.send?.(report);
    report = { max: 0, stalls: 0 };
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.('ticking');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) watch();
