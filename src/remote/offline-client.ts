/**
 * The offline helpers wired to a connected command: the outbox sends through b-found's
 * GitSwarmClient with each entry's own Idempotency-Key and its agent's saved key, and queued pushes
 * go through b-git's compare-and-swap push. {@link offlineContextOf} builds the OfflineContext a
 * connected command passes to sendOrQueue / pushOrQueue / readOrCache / flushOutbox.
 */
import { casPush, pushBranch } from '../engine/remote.js';
import { GitSwarmError } from '../errors.js';
import type { Executor } from '../store/index.js';
import type { GitSwarmClient } from './client.js';
import type { Connection } from './connection.js';
import { findStoredKey } from './credentials.js';
import type { OfflineContext } from './offline.js';
import type { PushRef, SendRequest } from './outbox.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface OfflineClientInput {
  db: Executor;
  connection: Pick<Connection, 'url' | 'repoId' | 'remote' | 'agentRef'>;
  /** The command's client (the acting agent's key, or the key of --api-key / GITSWARM_API_KEY). */
  client: GitSwarmClient;
  env: Env;
  /** The clone's root, where queued pushes are made; omitted: pushes wait. */
  root?: string;
  notify: (line: string) => void;
}

/**
 * Sends a queued write as the agent who queued it: that agent's saved key, or the command's key when
 * the agent is the command's own (or unnamed). An agent with no key here stops the replay
 * (`unauthorized`, tried again after `gitswarm agent login`), never sends as someone else: the
 * server keeps Idempotency-Keys per agent, so another agent's key would run the write again.
 */
export function clientSend(input: Pick<OfflineClientInput, 'connection' | 'client' | 'env'>): SendRequest {
  const { connection, client, env } = input;
  const keyed = (agent: string | null): GitSwarmClient => {
    if (agent === null) return client;
    const own =
      connection.agentRef !== undefined && connection.agentRef.toLowerCase() === agent.toLowerCase();
    const stored = findStoredKey(env, connection.url, agent);
    if (stored && stored.api_key !== client.apiKey)
      return client.withApiKey(stored.api_key, stored.agent_name);
    if (stored || own) return client;
    throw new GitSwarmError(
      'unauthorized',
      `No API key for agent ${agent} on ${connection.url} to send its queued change.`,
      {
        hint: `Save it with: gitswarm agent login ${agent} --api-key KEY, then: gitswarm sync`,
      },
    );
  };
  return async (request) => {
    const body = await keyed(request.agent).request<unknown>(request.method, request.path, {
      ...(request.body === undefined || request.body === null ? {} : { body: request.body }),
      idempotencyKey: request.idempotencyKey,
    });
    return { status: 200, body };
  };
}

/** Makes a queued push with b-git's engine; a refusal for good becomes `ref_moved` / `not_fast_forward`. */
export function enginePush(root: string): PushRef {
  return async (push) => {
    const outcome = push.cas
      ? await casPush(
          root,
          { ref: `refs/heads/${push.ref}`, oid: push.newValue, expected: push.oldValue ?? 'absent' },
          { remote: push.remote },
        )
      : await pushBranch(root, push.ref, { remote: push.remote });
    if (outcome.status !== 'rejected') return;
    throw new GitSwarmError(
      outcome.reason === 'remote_moved' ? 'ref_moved' : 'not_fast_forward',
      `${push.remote} refused the queued push of ${push.ref}: it is at ${outcome.remoteOid ?? 'nothing'}, not ${push.cas ? (push.oldValue ?? 'absent') : 'an ancestor'}.`,
      { details: { ref: push.ref, remote_oid: outcome.remoteOid } },
    );
  };
}

/** The OfflineContext of a connected command. */
export function offlineContextOf(input: OfflineClientInput): OfflineContext {
  return {
    db: input.db,
    serverUrl: input.connection.url,
    repoId: input.connection.repoId ?? null,
    send: clientSend(input),
    ...(input.root ? { push: enginePush(input.root) } : {}),
    notify: input.notify,
  };
}

/** Reads one API path with the command's client (for sync's pull). */
export function clientGet(client: GitSwarmClient): (path: string) => Promise<unknown> {
  return (path) => client.get<unknown>(path);
}
