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
 *
 * The requests are written as bytes on plain sockets and the answers read only as far as their
 * status and length, as autocannon does: on a machine of two cores the load generator shares the
 * cores with the server it measures, and Node's HTTP client took 190–300 µs of CPU per request,
 * near the server's own cost of a read.
 */
import { connect, type Socket } from 'node:net';

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
  /** CPU time of this process (the load generator) per request, µs: its share of the machine. */
  cpuPerRequest: number;
}

/** A request's bytes on the wire (HTTP/1.1, kept alive). */
export function serializeRequest(spec: PacedRequest, host: string): Buffer {
  const body = spec.body === undefined ? undefined : Buffer.from(spec.body);
  let head = `${spec.method} ${spec.path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const [name, value] of Object.entries(spec.headers)) head += `${name}: ${value}\r\n`;
  if (body) head += `content-length: ${body.length}\r\n`;
  head += '\r\n';
  return body ? Buffer.concat([Buffer.from(head), body]) : Buffer.from(head);
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CHUNKED_END = Buffer.from('0\r\n\r\n');

/**
 * How a response read so far ends: its status and total length in bytes once the head is in,
 * `null` before. A chunked body's length is known once its last chunk is in (the server's JSON
 * answers carry a content-length; chunked ones are read to their terminator).
 */
export function responseExtent(bytes: Buffer): { status: number; length: number } | null {
  const headEnd = bytes.indexOf(HEAD_END);
  if (headEnd < 0) return null;
  const head = bytes.toString('latin1', 0, headEnd);
  const status = Number(head.slice(9, 12));
  const contentLength = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  if (contentLength) return { status, length: headEnd + 4 + Number(contentLength[1]) };
  if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
    const end = bytes.indexOf(CHUNKED_END, headEnd + 4);
    return end < 0 ? null : { status, length: end + CHUNKED_END.length };
  }
  return { status, length: headEnd + 4 };
}

interface InFlight {
  due: number;
  done: (ok: boolean) => void;
}

/** One kept-alive socket that carries one request at a time; reconnects after the server closes it. */
class Connection {
  private socket: Socket | null = null;
  private received: Buffer = Buffer.alloc(0);
  private current: InFlight | null = null;

  constructor(
    private readonly port: number,
    private readonly host: string,
  ) {}

  get idle(): boolean {
    return this.current === null;
  }

  send(bytes: Buffer, inFlight: InFlight): void {
    this.current = inFlight;
    this.received = Buffer.alloc(0);
    (this.socket ?? this.open()).write(bytes);
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private open(): Socket {
    const socket = connect({ port: this.port, host: this.host, noDelay: true });
    socket.on('data', (chunk: Buffer) => {
      this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
      const extent = responseExtent(this.received);
      if (!extent || this.received.length < extent.length) return;
      this.finish(extent.status >= 200 && extent.status < 300);
    });
    // A socket closed or broken midway fails its request; the next request opens a new one. A
    // broken socket reports twice ('error', then 'close'), by when a new request may be on its
    // successor: only the socket in use speaks for the request in flight.
    const lost = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.current) this.finish(false);
    };
    socket.on('error', lost);
    socket.on('close', lost);
    this.socket = socket;
    return socket;
  }

  private finish(ok: boolean): void {
    const current = this.current;
    this.current = null;
    current?.done(ok);
  }
}

/** Sends `rate` requests a second for `durationSeconds` and reports their latencies (ms). */
export async function pacedLoad(options: PacedLoadOptions): Promise<PacedLoadResult> {
  const url = new URL(options.base);
  const port = Number(url.port);
  const connections = Array.from({ length: options.connections }, () => new Connection(port, url.hostname));
  const count = Math.round(options.rate * options.durationSeconds);
  const latencies: number[] = [];
  let failed = 0;
  let answered = 0;
  // Requests due but waiting for a free connection, oldest first.
  const waiting: number[] = [];
  let waitingFrom = 0;
  let sent = 0;
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  let allAnswered: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    allAnswered = resolve;
  });

  const dispatch = (connection: Connection, n: number) => {
    const due = start + (n * 1000) / options.rate;
    connection.send(serializeRequest(options.next(n), url.host), {
      due,
      done: (ok) => {
        latencies.push(performance.now() - due);
        if (!ok) failed++;
        if (++answered === count) allAnswered();
        else if (waitingFrom < waiting.length) dispatch(connection, waiting[waitingFrom++] as number);
      },
    });
  };
  const tick = () => {
    const dueNow = Math.min(count, Math.floor(((performance.now() - start) * options.rate) / 1000) + 1);
    while (sent < dueNow) {
      const n = sent++;
      const free = waitingFrom === waiting.length ? connections.find((c) => c.idle) : undefined;
      if (free) dispatch(free, n);
      else waiting.push(n);
    }
    if (sent < count) setTimeout(tick, 1);
  };
  tick();
  await finished;
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  for (const connection of connections) connection.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    rate: latencies.length / seconds,
    total: latencies.length,
    failed,
    p50: at(0.5),
    p99: at(0.99),
    max: at(1),
    cpuPerRequest: (cpu.user + cpu.system) / Math.max(latencies.length, 1),
  };
}
