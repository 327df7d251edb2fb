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
