/**
 * The command server's client connection (src/cli/daemon/connection.ts), by Node's pipe handle and
 * by `node:net`, against a real Unix socket: both must deliver the same lines, in order, whole
 * across chunk boundaries, send what was written before the connection was made, and end once.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isatty } from 'node:tty';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Connection, connectUnix, isTerminal, type Transport } from '../../src/cli/daemon/connection.js';
import { lineReader } from '../../src/cli/daemon/protocol.js';

let dir: string;
let servers: Server[] = [];
let accepted: Socket[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gitswarm-conn-'));
});
afterEach(async () => {
  for (const socket of accepted) socket.destroy();
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  servers = [];
  accepted = [];
  rmSync(dir, { recursive: true, force: true });
});

/** A Unix socket server that hands each accepted socket to `onSocket`. */
async function listen(onSocket: (socket: Socket) => void): Promise<string> {
  const path = join(dir, 'test.sock');
  const server = createServer((socket) => {
    socket.on('error', () => {}); // the client may close first: nothing to report here
    accepted.push(socket);
    onSocket(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return path;
}

interface Recorded {
  lines: string[];
  closes: Array<string | undefined>;
  closed: Promise<void>;
}

function record(): Recorded & { events: Parameters<typeof connectUnix>[1] } {
  const lines: string[] = [];
  const closes: Array<string | undefined> = [];
  let done!: () => void;
  const closed = new Promise<void>((resolve) => {
    done = resolve;
  });
  return {
    lines,
    closes,
    closed,
    events: {
      onLine: (line) => lines.push(line),
      onClose: (code) => {
        closes.push(code);
        done();
      },
    },
  };
}

/** `promise`, or a failure after 10 s instead of a hang. */
function within<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out waiting')), 10_000);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Waits until `done()` holds; fails after 10 s instead of hanging. */
async function until(done: () => boolean): Promise<void> {
  for (let waited = 0; !done(); waited += 10) {
    if (waited > 10_000) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe.each<Transport>(['handle', 'net'])('a connection by %s', (transport) => {
  it('delivers whole lines across chunks (a character cut in two included), then one close', async () => {
    const text = 'first ✓ line\nsecond — λ\n\nthird\n';
    const bytes = Buffer.from(text);
    const path = await listen(async (socket) => {
      // One byte at a time, so every boundary (inside a character too) is met.
      for (let i = 0; i < bytes.length; i++) {
        socket.write(bytes.subarray(i, i + 1));
        await new Promise((resolve) => setImmediate(resolve));
      }
      socket.end();
    });
    const seen = record();
    connectUnix(path, seen.events, transport);
    await within(seen.closed);
    await settle();
    expect(seen.lines).toEqual(['first ✓ line', 'second — λ', 'third']);
    expect(seen.closes).toEqual([undefined]);
  });

  it('sends what was written before it connected, in order, and a write larger than the socket holds', async () => {
    const big = `${'x'.repeat(4 * 1024 * 1024)}\n`;
    const received: Buffer[] = [];
    const path = await listen((socket) => {
      socket.on('data', (chunk: Buffer) => received.push(chunk));
    });
    const seen = record();
    const connection = connectUnix(path, seen.events, transport);
    connection.write('one\n');
    connection.write('two ✓\n');
    connection.write(big);
    await until(() => Buffer.concat(received).length >= big.length + 10);
    const all = Buffer.concat(received).toString('utf8');
    expect(all.slice(0, 10)).toBe('one\ntwo ✓\n');
    expect(all.length).toBe(10 + big.length);
    expect(all.endsWith('x\n')).toBe(true);
    connection.close();
    await settle();
    expect(seen.closes).toEqual([]);
  });

  it('reports a socket file no one listens on as ECONNREFUSED, a missing one as ENOENT', async () => {
    // A server killed while listening leaves its socket file behind, as a crashed server does.
    const stale = join(dir, 'stale.sock');
    const listenAndDie = `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`;
    spawnSync(process.execPath, ['-e', listenAndDie]);
    expect(lstatSync(stale).isSocket()).toBe(true);
    const refused = record();
    connectUnix(stale, refused.events, transport);
    await within(refused.closed);
    expect(refused.closes).toEqual(['ECONNREFUSED']);
    const missing = record();
    connectUnix(join(dir, 'none.sock'), missing.events, transport);
    await within(missing.closed);
    expect(missing.closes).toEqual(['ENOENT']);
    // A plain file is no socket.
    writeFileSync(join(dir, 'file.sock'), '');
    const file = record();
    connectUnix(join(dir, 'file.sock'), file.events, transport);
    await within(file.closed);
    expect(file.closes).toEqual(['ECONNREFUSED']);
  });

  it('reports a path too long for a socket as an error, and only after it has returned', async () => {
    const seen = record();
    let returned = false;
    const events = {
      onLine: seen.events.onLine,
      onClose: (code?: string) => {
        expect(returned).toBe(true);
        seen.events.onClose(code);
      },
    };
    connectUnix(join(dir, 'x'.repeat(200)), events, transport);
    returned = true;
    await within(seen.closed);
    expect(seen.closes).toHaveLength(1);
    expect(seen.closes[0]).toMatch(/^E[A-Z]+$/);
  });

  it('after close(), neither lines nor a close are reported, and the peer sees the end', async () => {
    let peerEnded!: () => void;
    const ended = new Promise<void>((resolve) => {
      peerEnded = resolve;
    });
    let connection!: Connection;
    const path = await listen((socket) => {
      socket.on('close', () => peerEnded());
      socket.on('data', () => {
        connection.close();
        socket.write('late\n');
      });
    });
    const seen = record();
    connection = connectUnix(path, seen.events, transport);
    connection.write('hello\n');
    await within(ended);
    await settle();
    expect(seen.lines).toEqual([]);
    expect(seen.closes).toEqual([]);
  });

  it('close() called for one line stops the lines that came with it', async () => {
    const path = await listen((socket) => socket.end('one\ntwo\nthree\n'));
    const lines: string[] = [];
    const connection: Connection = connectUnix(
      path,
      {
        onLine: (line) => {
          lines.push(line);
          connection.close();
        },
        onClose: () => lines.push('closed'),
      },
      transport,
    );
    await settle();
    expect(lines).toEqual(['one']);
  });

  it('closing before the connection is made sends nothing and reports nothing', async () => {
    const received: string[] = [];
    const path = await listen((socket) => socket.on('data', (chunk) => received.push(String(chunk))));
    const seen = record();
    const connection = connectUnix(path, seen.events, transport);
    connection.write('never\n');
    connection.close();
    await settle();
    expect(received).toEqual([]);
    expect(seen.closes).toEqual([]);
  });
});

describe('the line reader', () => {
  it('keeps a partial line, and does not keep the chunk it came in', () => {
    const lines: string[] = [];
    const read = lineReader((line) => lines.push(line));
    const chunk = Buffer.from('ab\ncd');
    read(chunk);
    chunk.fill(0x21); // the reader's buffer reused for other bytes, as a socket may
    read(Buffer.from('ef\n'));
    expect(lines).toEqual(['ab', 'cdef']);
  });
});

describe('isTerminal', () => {
  it('says what tty.isatty says, for a pipe and a file', () => {
    for (const fd of [0, 1, 2]) expect(isTerminal(fd)).toBe(isatty(fd));
    expect(isTerminal(9_999)).toBe(false);
  });
});
