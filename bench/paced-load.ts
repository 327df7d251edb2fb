/**
 * An open-loop load at a steady rate: request i is due at start + i / rate, whatever became of the
 * earlier ones, and its latency counts from when it was due. A slow response therefore shows in
 * the latencies of the requests queued behind it, as clients arriving at that rate would see it
 * (a closed loop, which waits for each answer before asking again, hides that queue). Requests go
 * out over at most `connections` kept-alive sockets; beyond that they wait for a free one.
 *
 * autocannon's own rate option is not used: it lets each connection send its whole quota for a
 * second as fast as the server answers, then waits for the next second, which is a burst at full
 * speed for most of every second rather than a steady rate.
 */
import { Agent, request } from 'node:http';

export interface PacedRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface PacedLoadOptions {
  /** `http://host:port` */
  base: string;
  /** Requests per second. */
  rate: number;
  durationSeconds: number;
  connections: number;
  /** The n-th request (from 0). */
  next: (n: number) => PacedRequest;
}

export interface PacedLoadResult {
  /** Requests answered per second over the run. */
  rate: number;
  total: number;
  /** Answers that were not 2xx, and requests that failed. */
  failed: number;
  p50: number;
  p99: number;
  max: number;
}

/** Sends `rate` requests a second for `durationSeconds` and reports their latencies (ms). */
export async function pacedLoad(options: PacedLoadOptions): Promise<PacedLoadResult> {
  const url = new URL(options.base);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const count = Math.round(options.rate * options.durationSeconds);
  const latencies: number[] = [];
  let failed = 0;
  const start = performance.now();
  const answered: Array<Promise<void>> = [];
  let sent = 0;
  const send = (n: number) => {
    const due = start + (n * 1000) / options.rate;
    const spec = options.next(n);
    return new Promise<void>((resolve) => {
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          method: spec.method,
          path: spec.path,
          headers: {
            ...spec.headers,
            ...(spec.body ? { 'content-length': String(Buffer.byteLength(spec.body)) } : {}),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - due);
            if ((res.statusCode ?? 0) >= 300) failed++;
            resolve();
          });
          // A response cut off midway never ends: it counts as failed instead of holding the run.
          res.on('aborted', () => {
            failed++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(spec.body);
    });
  };
  await new Promise<void>((resolve) => {
    const tick = () => {
      const dueNow = Math.min(count, Math.floor(((performance.now() - start) * options.rate) / 1000) + 1);
      while (sent < dueNow) answered.push(send(sent++));
      if (sent < count) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(answered);
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    rate: latencies.length / seconds,
    total: latencies.length,
    failed,
    p50: at(0.5),
    p99: at(0.99),
    max: at(1),
  };
}
