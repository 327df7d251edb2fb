/**
 * Mode B streams as a client of the server: what a connected clone needs to find a stream the
 * server records, and the server's view of the repository. The server decides; this module only
 * asks. Git work stays local (src/engine/remote.ts shares branches through the remote).
 */
import type { Repo, Stream } from '../store/index.js';
import { getAllPages } from './pages.js';
import { findServerStream } from './stream-ref.js';

/** The calls Mode B stream commands make on the server (the HTTP client of src/remote/client.ts). */
export interface StreamsServer {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  delete<T>(path: string, body?: unknown): Promise<T>;
}

/** A connected clone, as the Mode B stream commands see it. */
export interface RemoteStreamsDeps {
  server: StreamsServer;
  /** The server's repository id. */
  repoId: string;
  /** The clone's main repository root. */
  root: string;
  /** The git remote branches are shared through (default `origin`). */
  remote: string;
  /** The acting agent as the server knows it (the API key's owner). */
  actor(): Promise<{ id: string; name: string }>;
  /**
   * Sends a report that needs no server decision (a commit, a review), or queues it in the
   * outbox when the server does not answer (b-outbox's sendOrQueue). Absent: sent directly.
   */
  report?(command: string, path: string, body: unknown): Promise<{ queued: boolean; body: unknown }>;
  /** Whether a read so far came from the local cache because the server did not answer. */
  isStale?(): boolean;
}

/** Sends a report through the outbox when the command has one, else straight to the server. */
export async function sendReport<T>(
  deps: RemoteStreamsDeps,
  command: string,
  path: string,
  body: unknown,
): Promise<{ queued: false; body: T } | { queued: true; body: unknown }> {
  if (!deps.report) return { queued: false, body: await deps.server.post<T>(path, body) };
  const sent = await deps.report(command, path, body);
  return sent.queued ? { queued: true, body: sent.body } : { queued: false, body: sent.body as T };
}

/** The repository as the server records it (settings, buffer branch, merge mode). */
export async function getServerRepo(deps: RemoteStreamsDeps): Promise<Repo> {
  return (await deps.server.get<{ repo: Repo }>(`/repos/${encodeURIComponent(deps.repoId)}`)).repo;
}

/** A stream by id, without a name lookup. */
export async function getServerStream(deps: RemoteStreamsDeps, id: string): Promise<Stream> {
  return (await deps.server.get<{ stream: Stream }>(`/streams/${encodeURIComponent(id)}`)).stream;
}

/** The repository's streams, oldest first. */
export async function listServerStreams(deps: RemoteStreamsDeps): Promise<Stream[]> {
  return getAllPages<Stream>(deps.server, `/repos/${encodeURIComponent(deps.repoId)}/streams`, 'streams');
}

/**
 * Finds a stream by id, branch (`stream/<id>`) or name, as the local `getStream` does: an id or
 * branch first, then the newest live stream of that name, else the newest of that name.
 */
export function resolveServerStream(deps: RemoteStreamsDeps, ref: string): Promise<Stream> {
  return findServerStream<Stream>(deps.server, deps.repoId, ref);
}

/** The stream commands' view of a connected command's context (the seam's client and connection). */
export function connectedStreams(
  remote: {
    client: {
      get<T>(path: string): Promise<T>;
      post<T>(path: string, body?: unknown, options?: { idempotencyKey?: string | true }): Promise<T>;
      delete<T>(path: string, options?: { body?: unknown }): Promise<T>;
    };
    connection: { remote: string };
    repoId(): string;
  },
  root: string,
  actor: () => Promise<{ id: string; name: string }>,
): RemoteStreamsDeps {
  const { client } = remote;
  return {
    server: {
      get: (path) => client.get(path),
      // Every report is safe to retry: the server replays a POST with the same key.
      post: (path, body) => client.post(path, body, { idempotencyKey: true }),
      delete: (path, body) => client.delete(path, body === undefined ? {} : { body }),
    },
    repoId: remote.repoId(),
    root,
    remote: remote.connection.remote,
    actor,
  };
}
