/**
 * The client's connection to the command server's Unix socket, made with as little of Node as
 * possible. `node:net` (and `node:tty`, which loads it) brings Node's stream machinery: about
 * 2.5 ms of a served command that costs 35 ms in all, as much as the command takes in the server.
 * So the connection is made with Node's own pipe handle, the object `net.Socket` wraps, when the
 * runtime lends it (`process.binding`, documented as deprecated but kept for these bindings), and
 * with `node:net` otherwise: under `--pending-deprecation` (which would print a warning), under the
 * permission model (which forbids it), or on a runtime whose handles look different.
 *
 * Either way the caller sees the same thing: lines of the server's UTF-8 text, one close.
 */
// node:util is loaded with Node itself: importing it costs nothing.
import { getSystemErrorName } from 'node:util';
import { lineReader } from './protocol.js';

export interface Connection {
  /** Sends text; written once connected when the connection is still being made. */
  write(text: string): void;
  /** Closes the connection; no event follows. */
  close(): void;
}

export interface ConnectionEvents {
  /** Each complete line the server sends, without its newline. */
  onLine(line: string): void;
  /**
   * The connection ended: `errorCode` (ECONNREFUSED, ENOENT, …) when it failed or could not be
   * made, undefined when the server closed it. Called once, and never after `close()`.
   */
  onClose(errorCode?: string): void;
}

export type Transport = 'handle' | 'net';

/**
 * Connects to the Unix socket at `path`: by Node's handle where it can be had, unless `transport`
 * says 'net'. Events come only after it returns. Throws when neither can be had (Node.js before
 * 22.3 under --pending-deprecation): a client then runs the command in-process.
 */
export function connectUnix(path: string, events: ConnectionEvents, transport?: Transport): Connection {
  const handles = transport === 'net' ? undefined : nodeHandles();
  if (handles) return connectWithHandle(handles, path, events);
  return connectWithNet(builtin<typeof import('node:net')>('node:net'), path, events);
}

/** Whether file descriptor `fd` is a terminal, without loading `node:tty` when that can be helped. */
export function isTerminal(fd: number): boolean {
  return (nodeHandles()?.isTTY ?? builtin<typeof import('node:tty')>('node:tty').isatty)(fd);
}

/** One of Node's modules, loaded only now (Node.js 22.3 and later). */
function builtin<Module>(id: string): Module {
  const load = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (typeof load !== 'function') throw new Error(`cannot load ${id} on Node.js ${process.version}`);
  return load(id) as Module;
}

// ---- Node's handles -------------------------------------------------------------------------

/** What libuv reports at the end of a stream (UV_EOF). */
const UV_EOF = -4095;

interface PipeHandle {
  connect(request: object, path: string): number;
  readStart(): number;
  writeUtf8String(request: object, text: string): number;
  close(): void;
  onread: (buffer: ArrayBuffer | undefined) => void;
}

interface NodeHandles {
  Pipe: new (type: number) => PipeHandle;
  PipeConnectWrap: new () => { oncomplete?: (status: number) => void };
  pipeSocketType: number;
  WriteWrap: new () => { handle?: PipeHandle; oncomplete?: (status: number) => void };
  /**
   * Where the handle leaves a read's byte count (or error) and offset, and whether a write is
   * still under way: the slots `net` reads.
   */
  streamState: Int32Array;
  readBytesOrError: number;
  arrayBufferOffset: number;
  lastWriteWasAsync: number;
  isTTY: (fd: number) => boolean;
}

let cachedHandles: NodeHandles | null | undefined;

/** Node's pipe, stream and tty bindings when they may be used here, else undefined. */
function nodeHandles(): NodeHandles | undefined {
  if (cachedHandles === undefined) cachedHandles = loadNodeHandles() ?? null;
  return cachedHandles ?? undefined;
}

function loadNodeHandles(): NodeHandles | undefined {
  if (pendingDeprecation()) return undefined;
  const binding = (process as unknown as { binding?: (name: string) => Record<string, unknown> }).binding;
  if (typeof binding !== 'function') return undefined;
  try {
    const pipe = binding('pipe_wrap');
    const stream = binding('stream_wrap');
    const tty = binding('tty_wrap');
    const constants = pipe.constants as { SOCKET?: unknown } | undefined;
    const state = stream.streamBaseState;
    const shaped =
      typeof pipe.Pipe === 'function' &&
      typeof pipe.PipeConnectWrap === 'function' &&
      typeof constants?.SOCKET === 'number' &&
      typeof stream.WriteWrap === 'function' &&
      state instanceof Int32Array &&
      typeof stream.kReadBytesOrError === 'number' &&
      typeof stream.kArrayBufferOffset === 'number' &&
      typeof stream.kLastWriteWasAsync === 'number' &&
      typeof tty.isTTY === 'function';
    if (!shaped) return undefined;
    return {
      Pipe: pipe.Pipe as NodeHandles['Pipe'],
      PipeConnectWrap: pipe.PipeConnectWrap as NodeHandles['PipeConnectWrap'],
      pipeSocketType: constants.SOCKET as number,
      WriteWrap: stream.WriteWrap as NodeHandles['WriteWrap'],
      streamState: state,
      readBytesOrError: stream.kReadBytesOrError as number,
      arrayBufferOffset: stream.kArrayBufferOffset as number,
      lastWriteWasAsync: stream.kLastWriteWasAsync as number,
      isTTY: tty.isTTY as NodeHandles['isTTY'],
    };
  } catch {
    return undefined; // the permission model, or a binding this runtime no longer lends
  }
}

/** `process.binding` warns under --pending-deprecation: a command must not print that. */
function pendingDeprecation(): boolean {
  const options = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  return options.includes('--pending-deprecation') || process.env.NODE_PENDING_DEPRECATION === '1';
}

function connectWithHandle(handles: NodeHandles, path: string, events: ConnectionEvents): Connection {
  const handle = new handles.Pipe(handles.pipeSocketType);
  let connected = false;
  let closed = false;
  const queued: string[] = [];
  // A write the handle finishes later keeps its request here until then.
  const pendingWrites = new Set<object>();

  const close = () => {
    if (closed) return;
    closed = true;
    handle.close();
  };
  const fail = (status: number) => {
    if (closed) return;
    close();
    events.onClose(status === UV_EOF ? undefined : getSystemErrorName(status));
  };
  const send = (text: string) => {
    const request = new handles.WriteWrap();
    request.handle = handle;
    request.oncomplete = (status) => {
      pendingWrites.delete(request);
      if (status < 0) fail(status);
    };
    const status = handle.writeUtf8String(request, text);
    if (status < 0) fail(status);
    else if (handles.streamState[handles.lastWriteWasAsync] !== 0) pendingWrites.add(request);
  };

  const onLine = lineReader((line) => {
    if (!closed) events.onLine(line);
  });
  handle.onread = (buffer) => {
    const read = handles.streamState[handles.readBytesOrError] as number;
    if (read > 0 && buffer)
      onLine(Buffer.from(buffer, handles.streamState[handles.arrayBufferOffset] as number, read));
    else if (read < 0) fail(read);
  };

  const request = new handles.PipeConnectWrap();
  request.oncomplete = (status) => {
    if (closed) return;
    if (status < 0) return fail(status);
    connected = true;
    const reading = handle.readStart();
    if (reading < 0) return fail(reading);
    for (const text of queued.splice(0)) send(text);
  };
  const status = handle.connect(request, path);
  if (status < 0) queueMicrotask(() => fail(status)); // events come after connectUnix returns

  return {
    write(text) {
      if (closed) return;
      if (connected) send(text);
      else queued.push(text);
    },
    close,
  };
}

// ---- node:net -------------------------------------------------------------------------------

function connectWithNet(net: typeof import('node:net'), path: string, events: ConnectionEvents): Connection {
  const socket = net.connect(path);
  let closed = false;
  let errorCode: string | undefined;
  const onLine = lineReader((line) => {
    if (!closed) events.onLine(line);
  });
  socket.on('data', onLine);
  socket.on('error', (error: NodeJS.ErrnoException) => {
    errorCode = error.code ?? 'EIO';
  });
  socket.on('close', () => {
    if (closed) return;
    closed = true;
    events.onClose(errorCode);
  });
  return {
    write(text) {
      if (!closed) socket.write(text);
    },
    close() {
      if (closed) return;
      closed = true;
      socket.destroy();
    },
  };
}
