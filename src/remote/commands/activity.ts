/**
 * `gitswarm activity [--limit N] [--follow]` on a connected clone: the server's activity log of
 * the repository; `--follow` listens on the server's WebSocket (`/api/v1/ws`, subscribed to the
 * repository) and prints each event as it happens. Entries recorded between the first page and
 * the subscription are fetched once the subscription stands, so none is missed or printed twice.
 */
import type { ActivityResult, ActivityView } from '../../cli/activity.js';
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import { GitSwarmError } from '../../errors.js';
import type { ActivityEntry } from '../../store/index.js';
import { remoteActor } from '../actor.js';
import { getAllPages } from '../pages.js';
import type { ServerAgent } from './agent.js';

type Connected = CommandDeps & { remote: RemoteDeps };

/** Agent names by id, filled from the agent list and asked for when an unknown id shows up. */
class AgentNames {
  readonly #names = new Map<string, string>();
  readonly #remote: RemoteDeps;
  constructor(remote: RemoteDeps) {
    this.#remote = remote;
  }

  async load(): Promise<void> {
    const { agents } = await this.#remote.client.get<{ agents: ServerAgent[] }>('/agents');
    for (const agent of agents) this.#names.set(agent.id, agent.name);
  }

  async name(entries: readonly ActivityEntry[]): Promise<ActivityView[]> {
    if (entries.some((e) => e.agent_id && !this.#names.has(e.agent_id))) await this.load();
    return entries.map((e) => ({
      ...e,
      agent_name: e.agent_id ? (this.#names.get(e.agent_id) ?? null) : null,
    }));
  }
}

export async function activityRemote(limit: number, deps: Connected): Promise<ActivityResult> {
  const { remote } = deps;
  const names = new AgentNames(remote);
  const [{ activity }] = await Promise.all([
    remote.client.get<{ activity: ActivityEntry[] }>(`/repos/${remote.repoId()}/activity`, { limit }),
    names.load(),
  ]);
  return { activity: await names.name(activity.reverse()) };
}

interface WsMessage {
  type: string;
  event?: ActivityEntry;
  error?: { code: string; message: string };
}

/**
 * What `--follow` needs: the acting agent's key (the WebSocket is for agents), checked over HTTP
 * first because a refused WebSocket handshake cannot say why.
 */
export async function followPrerequisites(deps: Connected): Promise<void> {
  if (!deps.remote.client.apiKey) {
    throw new GitSwarmError('agent_required', 'activity --follow listens as an agent.', {
      hint: 'Name one with --as AGENT (its saved key is used), or pass --api-key / GITSWARM_API_KEY.',
    });
  }
  await remoteActor(deps.remote);
}

/**
 * Prints the repository's events as the server sends them until `io.signal` aborts. Needs the
 * acting agent's key (the WebSocket is for agents). Throws `server_unreachable` when the
 * connection cannot be made or the server closes it.
 */
export async function followActivityRemote(
  deps: Connected,
  after: ActivityView[],
  emit: (entries: ActivityView[]) => void,
): Promise<void> {
  const { remote, io } = deps;
  const repoId = remote.repoId();
  await followPrerequisites(deps);
  const names = new AgentNames(remote);
  const seen = new Set(after.map((e) => e.id));
  let since = after[after.length - 1]?.created_at;
  // Events that arrive while the gap is being filled wait here, in order.
  let backlog: ActivityEntry[] | null = [];

  const deliver = async (entries: ActivityEntry[]) => {
    const fresh = entries.filter((e) => !seen.has(e.id));
    for (const entry of fresh) seen.add(entry.id);
    if (fresh.length > 0) emit(await names.name(fresh));
  };

  const socket = new WebSocket(remote.client.websocketUrl(), {
    // undici's WebSocket takes headers: the key stays out of the URL.
    headers: { authorization: `Bearer ${remote.client.apiKey}` },
  } as unknown as string[]);

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    let chain = Promise.resolve();
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      io.signal.removeEventListener('abort', onAbort);
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close();
      if (error) reject(error);
      else resolve();
    };
    const onAbort = () => finish();
    io.signal.addEventListener('abort', onAbort, { once: true });
    if (io.signal.aborted) return finish();

    socket.addEventListener('message', (message) => {
      let parsed: WsMessage;
      try {
        parsed = JSON.parse(String(message.data)) as WsMessage;
      } catch {
        return;
      }
      chain = chain
        .then(async () => {
          if (parsed.type === 'welcome') {
            socket.send(JSON.stringify({ type: 'subscribe', repo_id: repoId }));
          } else if (parsed.type === 'subscribed') {
            // Fill the gap between the first page and the subscription, then the events held meanwhile.
            const activity = await getAllPages<ActivityEntry>(
              remote.client,
              `/repos/${repoId}/activity`,
              'activity',
              since ? { after: since } : {},
            );
            await deliver(activity.reverse());
            const held = backlog ?? [];
            backlog = null;
            await deliver(held);
          } else if (parsed.type === 'event' && parsed.event) {
            if (backlog) backlog.push(parsed.event);
            else await deliver([parsed.event]);
            since = parsed.event.created_at;
          } else if (parsed.type === 'error' && parsed.error) {
            finish(
              new GitSwarmError(
                'invalid_state',
                `The server refused the subscription: ${parsed.error.message}`,
              ),
            );
          }
        })
        .catch((error) => finish(error));
    });
    socket.addEventListener('close', (event) => {
      if (settled) return;
      const why = event.code === 1008 || event.code === 1013 ? ` (${event.code} ${event.reason})` : '';
      finish(
        new GitSwarmError(
          'server_unreachable',
          `The server at ${remote.connection.url} closed the live activity connection${why}.`,
          {
            details: { server: remote.connection.url },
          },
        ),
      );
    });
    socket.addEventListener('error', () => {
      // A 'close' always follows; it says what happened.
    });
  });
}
