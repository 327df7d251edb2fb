/**
 * Runs test workers as separate OS processes: each worker script prints `ready`, waits for a line
 * on stdin, does its one piece of work through the built code and prints its outcome as one JSON line.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { ROOT, requireFreshBuild } from './built.js';
import { bundledFixture } from './bundled-fixture.js';

/** Throws unless dist/ is a build of the current sources: workers run the built code, as the CLI does. */
export function requireBuilt(_path?: string): void {
  requireFreshBuild();
}

interface Worker {
  child: ChildProcessWithoutNullStreams;
  next(): Promise<string>;
  exited: Promise<number | null>;
}

function startWorker(script: string, args: string[]): Worker {
  const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let buffered = '';
  let errors = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('exit', (code) =>
      code === 0 ? resolve(code) : reject(new Error(`worker failed (${code}): ${errors}`)),
    );
  });
  // A worker that fails before its outcome is read rejects `next()`; this keeps that rejection from going unhandled.
  exited.catch(() => {});
  return {
    child,
    exited,
    next: () =>
      new Promise((resolve, reject) => {
        const line = lines.shift();
        if (line !== undefined) return resolve(line);
        if (child.exitCode !== null) return reject(new Error(`worker exited (${child.exitCode}): ${errors}`));
        waiters.push(resolve);
        child.once('exit', (code) => reject(new Error(`worker exited (${code}): ${errors}`)));
      }),
  };
}

/**
 * Starts the worker `test/fixtures/<fixture>` (bundled) once per argument list, releases all workers together once every one is ready,
 * waits for them to exit, and returns their JSON outcomes in the order of `argLists`.
 */
export async function runWorkers<T>(fixture: string, argLists: string[][]): Promise<T[]> {
  const script = await bundledFixture(fixture);
  const workers = argLists.map((args) => startWorker(script, args));
  try {
    for (const worker of workers) {
      const line = await worker.next();
      if (line !== 'ready') throw new Error(`worker said ${JSON.stringify(line)} instead of ready`);
    }
    for (const worker of workers) worker.child.stdin.end('go\n');
    const outcomes = await Promise.all(workers.map(async (worker) => JSON.parse(await worker.next()) as T));
    await Promise.all(workers.map((worker) => worker.exited));
    return outcomes;
  } finally {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill();
  }
}
