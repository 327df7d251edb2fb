/**
 * Agents: registration (which returns the API key, once), listing and lookup, and the caller's own
 * record and notification settings under /me.
 */
import Type from 'typebox';
import { EVENT_NAMES } from '../../core/activity/event-names.js';
import { replaceAgentKey } from '../../core/agents/agent-admin.js';
import { updateAgentProfile } from '../../core/agents/agent-profile.js';
import { findAgent, getAgent, listAgents, registerAgent } from '../../core/agents/agents.js';
import { agentKarma } from '../../core/governance/karma.js';
import {
  getNotificationSettings,
  listNotifications,
  markNotificationsRead,
  setNotificationSettings,
} from '../../core/notifications/notifications.js';
import { getRepo } from '../../core/repos/repos.js';
import { GitSwarmError } from '../../errors.js';
import { inTransaction } from '../../store/index.js';
import { actingAgent, generateApiKey, hashApiKey } from '../plugins/auth.js';
import { agentView, canRead } from '../route-helpers.js';
import { AgentView, Closed, errorResponses, Id, Metadata, Nullable, Timestamp } from '../schemas.js';
import type { App } from '../types.js';

const RegisterBody = Closed({
  name: Type.String({
    minLength: 1,
    maxLength: 100,
    description: 'Letters, digits, ".", "_", "-"; unique whatever its case; not shaped like a UUID',
  }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  invite: Type.Optional(
    Type.String({
      maxLength: 100,
      description: 'An invite code (servers with GITSWARM_REGISTRATION=invite)',
    }),
  ),
});

const NotificationSettingsView = Closed({
  webhook_url: Nullable(Type.String()),
  events: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  has_secret: Type.Boolean(),
  circuit: Nullable(
    Closed({
      target: Type.String({ description: 'host:port of the webhook URL' }),
      state: Type.Union([Type.Literal('closed'), Type.Literal('open')]),
      consecutive_failures: Type.Integer(),
      open_until: Nullable(Timestamp),
      last_error: Nullable(Type.String()),
    }),
  ),
});

const NotificationSettingsBody = Closed({
  webhook_url: Type.Optional(Nullable(Type.String({ maxLength: 2048 }))),
  events: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: EVENT_NAMES.length })),
  enabled: Type.Optional(Type.Boolean()),
  rotate_secret: Type.Optional(Type.Boolean()),
});

const AgentKarmaView = Closed({
  agent_id: Type.String(),
  total: Type.Integer({
    description:
      "The sum over every repository; shown only: no rule reads it (a repository's rules read karma there)",
  }),
  repositories: Type.Array(
    Closed({ repo_id: Type.String(), repo_name: Type.String(), karma: Type.Integer() }),
    { description: 'Karma in each repository the caller may read, highest first' },
  ),
});

const NotificationView = Closed({
  id: Type.String(),
  type: Type.String(),
  payload: Metadata,
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  last_error: Nullable(Type.String()),
  read: Type.Boolean(),
  created_at: Timestamp,
});

/**
 * POST/GET /agents, GET /agents/:id (and its karma per repository), GET /me, notification
 * settings and notifications under /me.
 */
export async function agentRoutes(app: App): Promise<void> {
  app.post(
    '/agents',
    {
      config: { auth: 'none', registration: true },
      schema: {
        summary: 'Register an agent; the API key is returned once',
        description:
          'Limited per client address (GITSWARM_REGISTRATIONS_PER_HOUR). On a server with ' +
          'GITSWARM_REGISTRATION=invite an unused invite code is needed; with closed, nothing registers ' +
          '(403 registration_closed).',
        tags: ['agents'],
        body: RegisterBody,
        response: {
          201: Closed({ agent: AgentView, api_key: Type.String() }),
          ...errorResponses(400, 403, 409, 429),
        },
      },
    },
    async (request, reply) => {
      const apiKey = generateApiKey();
      const agent = await registerAgent(app.deps, {
        name: request.body.name,
        description: request.body.description,
        apiKeyHash: hashApiKey(apiKey),
        admission: { mode: app.registrationMode, code: request.body.invite },
      });
      reply.code(201);
      return { agent: agentView(agent), api_key: apiKey };
    },
  );

  app.get(
    '/agents',
    {
      schema: {
        summary: 'List agents',
        tags: ['agents'],
        response: { 200: Closed({ agents: Type.Array(AgentView) }) },
      },
    },
    async () => ({ agents: (await listAgents(app.deps.store.db)).map(agentView) }),
  );

  app.get(
    '/agents/:id',
    {
      schema: {
        summary: 'Get an agent by id or name',
        tags: ['agents'],
        params: Closed({ id: Id }),
        response: { 200: Closed({ agent: AgentView }), ...errorResponses(404) },
      },
    },
    async (request) => {
      const agent = await findAgent(app.deps.store.db, request.params.id);
      if (!agent) {
        throw new GitSwarmError('agent_not_found', `No agent ${JSON.stringify(request.params.id)}.`);
      }
      return { agent: agentView(agent) };
    },
  );

  app.get(
    '/agents/:id/karma',
    {
      schema: {
        summary: "An agent's karma in each repository, and the total",
        description:
          'Karma is earned per repository (merged, not reverted work and accurate reviews there; bounties ' +
          "earn none) and a repository's rules read karma in that repository only.",
        tags: ['agents'],
        params: Closed({ id: Id }),
        response: { 200: AgentKarmaView, ...errorResponses(404) },
      },
    },
    async (request) => {
      const db = app.deps.store.db;
      const agent = await findAgent(db, request.params.id);
      if (!agent) {
        throw new GitSwarmError('agent_not_found', `No agent ${JSON.stringify(request.params.id)}.`);
      }
      const karma = await agentKarma(db, agent.id);
      const repositories = [];
      for (const entry of karma.repositories) {
        if (await canRead(app.deps, request.agent ?? null, await getRepo(db, entry.repo_id))) {
          repositories.push(entry);
        }
      }
      return { agent_id: agent.id, total: karma.total, repositories };
    },
  );

  app.patch(
    '/agents/:id',
    {
      schema: {
        summary: 'Change your own profile: description and avatar URL',
        tags: ['agents'],
        params: Closed({ id: Id }),
        body: Closed({
          description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
          avatar_url: Type.Optional(Nullable(Type.String({ maxLength: 2048 }))),
        }),
        response: { 200: Closed({ agent: AgentView }), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const agent = await getAgent(app.deps.store.db, request.params.id);
      const updated = await updateAgentProfile(app.deps, app.deps.store.db, {
        actor,
        agent,
        changes: { description: request.body.description, avatarUrl: request.body.avatar_url },
      });
      return { agent: agentView(updated) };
    },
  );

  app.get(
    '/me',
    {
      config: { auth: 'required' },
      schema: {
        summary: 'The agent owning the API key',
        tags: ['agents'],
        response: { 200: Closed({ agent: AgentView }), ...errorResponses(401) },
      },
    },
    async (request) => ({ agent: agentView(actingAgent(request)) }),
  );

  app.post(
    '/me/keys/rotate',
    {
      config: { auth: 'required', idempotent: false },
      schema: {
        summary: 'Replace your API key; the new key is returned once and the old one stops working',
        tags: ['agents'],
        response: { 200: Closed({ agent: AgentView, api_key: Type.String() }), ...errorResponses(401, 409) },
      },
    },
    async (request) => {
      const agent = actingAgent(request);
      const apiKey = generateApiKey();
      const updated = await inTransaction(app.deps.store.db, (trx) =>
        replaceAgentKey(app.deps, trx, {
          agent,
          currentHash: agent.api_key_hash,
          newHash: hashApiKey(apiKey),
          actor: agent,
        }),
      );
      app.forgetResolvedKeys();
      return { agent: agentView(updated), api_key: apiKey };
    },
  );

  app.get(
    '/me/notification-settings',
    {
      config: { auth: 'required' },
      schema: {
        summary: "The caller's webhook settings",
        tags: ['notifications'],
        response: { 200: Closed({ settings: NotificationSettingsView }), ...errorResponses(401) },
      },
    },
    async (request) => ({
      settings: await getNotificationSettings(
        app.deps.store.db,
        actingAgent(request).id,
        app.deps.clock.now().toISOString(),
      ),
    }),
  );

  app.put(
    '/me/notification-settings',
    {
      // The answer may carry the signing secret: never kept for an idempotent replay.
      config: { idempotent: false },
      schema: {
        summary: 'Set the webhook URL and event filter; the signing secret is returned when made',
        description:
          'Deliveries are POSTed with X-GitSwarm-Signature: sha256=<HMAC-SHA256 of the raw body with ' +
          "the secret>. An empty events list means the agent's own events (about it, its streams and tasks, and " +
          'repositories where it holds a role or a grant). Deliveries to loopback, private and link-local ' +
          'addresses are refused unless the server allows them (GITSWARM_ALLOW_PRIVATE_WEBHOOKS=1). circuit ' +
          'shows whether deliveries to the host are suspended after repeated failures (docs/notifications.md).',
        tags: ['notifications'],
        body: NotificationSettingsBody,
        response: {
          200: Closed({
            settings: NotificationSettingsView,
            webhook_secret: Type.Optional(Type.String()),
          }),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => {
      const agent = actingAgent(request);
      return inTransaction(app.deps.store.db, (trx) =>
        setNotificationSettings(app.deps, trx, {
          agent,
          webhookUrl: request.body.webhook_url,
          events: request.body.events,
          enabled: request.body.enabled,
          rotateSecret: request.body.rotate_secret,
        }),
      );
    },
  );

  app.get(
    '/me/notifications',
    {
      config: { auth: 'required' },
      schema: {
        summary: "The caller's notifications, newest first",
        tags: ['notifications'],
        querystring: Closed({
          status: Type.Optional(
            Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
          ),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
        }),
        response: { 200: Closed({ notifications: Type.Array(NotificationView) }), ...errorResponses(401) },
      },
    },
    async (request) => ({
      notifications: await listNotifications(app.deps.store.db, actingAgent(request).id, request.query),
    }),
  );

  app.post(
    '/me/notifications/read',
    {
      schema: {
        summary: 'Mark notifications read',
        tags: ['notifications'],
        body: Closed({ ids: Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: 500 }) }),
        response: { 200: Closed({ updated: Type.Integer() }), ...errorResponses(400, 401) },
      },
    },
    async (request) => ({
      updated: await markNotificationsRead(app.deps.store.db, actingAgent(request).id, request.body.ids),
    }),
  );
}
