/**
 * What the Mode B governance commands (merge, promote, stabilize) need from the server: JSON
 * calls that answer the body or throw the server's error as a GitSwarmError (its code, so the
 * CLI's exit code is the server's: no_consensus → 1, server_unreachable → 4).
 */
export interface ServerApi {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
}

/** The fields of a server stream record these commands use. */
export interface RemoteStream {
  id: string;
  name: string;
  branch: string;
  status: string;
  agent_id: string;
}

/** The ServerApi of a connected command over b-found's client. */
export function serverApi(client: {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown, options?: { idempotencyKey?: string | true }): Promise<T>;
  patch<T>(path: string, body?: unknown, options?: { idempotencyKey?: string | true }): Promise<T>;
}): ServerApi {
  return {
    get: (path) => client.get(path),
    // One key per call, kept across the client's retries: a report lost on the way is recorded once.
    post: (path, body) => client.post(path, body, { idempotencyKey: true }),
    patch: (path, body) => client.patch(path, body, { idempotencyKey: true }),
  };
}
