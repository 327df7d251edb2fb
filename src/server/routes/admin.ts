/**
 * What server admins (GITSWARM_ADMINS) do to agents: invites for registration, suspension and
 * reinstatement, and revoking or reissuing an agent's key. An agent revokes its own key too.
 */
import Type from 'typebox';
import { replaceAgentKey, setAgentSuspended } from '../../core/agents/agent-admin.js';
import { findAgent } from '../../core/agents/agents.js';
import { createInvite } from '../../core/agents/invites.js';
import { GitSwarmError } from '../../errors.js';
import { type Agent, inTransaction } from '../../store/index.js';
import { actingAgent, generateApiKey, hashApiKey, serverAdmin } from '../plugins/auth.js';
import { agentView } from '../route-helpers.js';
import { AgentView, Closed, errorResponses, IdParams, Timestamp } from '../schemas.js';
import type { App } from '../types.js';

async function agentNamed(app: App, ref: string): Promise<Agent> {
  const agent = await findAgent(app.deps.store.db, ref);
  if (!agent) throw new GitSwarmError('agent_not_found', `No agent ${JSON.stringify(ref)}.`);
  return agent;
}

/** POST /invites, /agents/:id/suspend, /agents/:id/reinstate, /agents/:id/keys/{rotate,revoke}. */
export async function adminRoutes(app: App): Promise<void> {
  app.post(
    '/invites',
    {
      // The answer holds a secret: it is never stored for replay.
      config: { auth: 'required', idempotent: false },
      schema: {
        summary: 'Make an invite code for registration (server admin); the code is returned once',
        tags: ['admin'],
        body: Closed({
          expires_in_hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 90 * 24 })),
        }),
        response: {
          201: Closed({ invite: Closed({ id: Type.String(), code: Type.String(), expires_at: Timestamp }) }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (request, reply) => {
      const actor = serverAdmin(app, request);
      const hours = request.body.expires_in_hours;
      const { invite, code } = await createInvite(app.deps, app.deps.store.db, {
        actor,
        ...(hours === undefined ? {} : { ttlMs: hours * 3_600_000 }),
      });
      reply.code(201);
      return { invite: { id: invite.id, code, expires_at: invite.expires_at } };
    },
  );

  for (const [verb, suspended] of [
    ['suspend', true],
    ['reinstate', false],
  ] as const) {
    app.post(
      `/agents/:id/${verb}`,
      {
        schema: {
          summary: suspended
            ? 'Suspend an agent: its key gets 403 agent_suspended (server admin)'
            : 'Reinstate a suspended agent (server admin)',
          tags: ['admin'],
          params: IdParams,
          response: { 200: Closed({ agent: AgentView }), ...errorResponses(401, 403, 404) },
        },
      },
      async (request) => {
        const actor = serverAdmin(app, request);
        const agent = await agentNamed(app, request.params.id);
        if (suspended && agent.id === actor.id) {
          throw new GitSwarmError('invalid_input', 'An admin does not suspend itself.');
        }
        const updated = await inTransaction(app.deps.store.db, (trx) =>
          setAgentSuspended(app.deps, trx, { agent, suspended, actor }),
        );
        app.forgetResolvedKeys();
        return { agent: agentView(updated) };
      },
    );
  }

  app.post(
    '/agents/:id/keys/rotate',
    {
      config: { idempotent: false },
      schema: {
        summary: "Issue a new key for an agent (server admin); the agent's old key stops working",
        tags: ['admin'],
        params: IdParams,
        response: {
          200: Closed({ agent: AgentView, api_key: Type.String() }),
          ...errorResponses(401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const actor = serverAdmin(app, request);
      const agent = await agentNamed(app, request.params.id);
      const apiKey = generateApiKey();
      const updated = await inTransaction(app.deps.store.db, (trx) =>
        replaceAgentKey(app.deps, trx, {
          agent,
          currentHash: agent.api_key_hash,
          newHash: hashApiKey(apiKey),
          actor,
        }),
      );
      app.forgetResolvedKeys();
      return { agent: agentView(updated), api_key: apiKey };
    },
  );

  app.post(
    '/agents/:id/keys/revoke',
    {
      schema: {
        summary: "Revoke an agent's key: it stops working at once (the agent itself or a server admin)",
        tags: ['admin'],
        params: IdParams,
        response: { 200: Closed({ agent: AgentView }), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const agent = await agentNamed(app, request.params.id);
      if (agent.id !== actor.id) serverAdmin(app, request);
      const updated = await inTransaction(app.deps.store.db, (trx) =>
        replaceAgentKey(app.deps, trx, { agent, currentHash: agent.api_key_hash, newHash: null, actor }),
      );
      app.forgetResolvedKeys();
      return { agent: agentView(updated) };
    },
  );
}
