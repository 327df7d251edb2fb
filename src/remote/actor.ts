/**
 * The acting agent of a connected command: the owner of the key the client carries, as the server
 * knows it (`GET /me`). The server takes the actor from the key, never from a body field, so this
 * is for output and for client-side choices (which worktree is the agent's), never for a rule.
 */
import type { RemoteDeps } from '../cli/context.js';
import { GitSwarmError } from '../errors.js';
import type { ServerAgent } from './commands/agent.js';

const seen = new WeakMap<RemoteDeps, Promise<ServerAgent>>();

/** The agent owning the command's key; `agent_required` when the command has no key at all. */
export function remoteActor(remote: RemoteDeps): Promise<ServerAgent> {
  if (!remote.client.apiKey) {
    const named = remote.connection.agentRef;
    return Promise.reject(
      new GitSwarmError(
        'agent_required',
        named
          ? `No API key for ${named} on ${remote.connection.url}.`
          : 'This command acts as an agent, and none was named.',
        {
          hint: named
            ? `Save its key with: gitswarm agent login ${named} --api-key KEY (or pass --api-key / GITSWARM_API_KEY).`
            : 'Name it with --as AGENT (its saved key is used), or pass --api-key / GITSWARM_API_KEY.',
        },
      ),
    );
  }
  let found = seen.get(remote);
  if (!found) {
    found = remote.client.get<{ agent: ServerAgent }>('/me').then((body) => body.agent);
    seen.set(remote, found);
  }
  return found;
}
