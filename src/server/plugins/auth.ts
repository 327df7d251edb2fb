/**
 * API-key authentication. Keys are `gs_` + 32 random bytes (base64url), shown once at registration
 * and stored only as their SHA-256 (hex). `request.agent` is the key's owner: routes take the acting
 * agent from here and never from a body field.
 *
 * The key is resolved in `onRequest` (so the rate limiter can count per key) but refused only in
 * `preValidation`, after the rate limiter has run: guessing keys is rate-limited like anything else.
 *
 * A key's agent row is cached for at most AGENT_CACHE_MS; an `agent.updated` or `karma.changed`
 * event on the bus (from any instance, with Redis) empties the cache at once, so a rotated or
 * revoked key, a suspension and karma-based access follow changes made through the core without
 * waiting (the instance that made the change also empties its cache itself, before it answers).
 *
 * A suspended agent's key is refused with 403 `agent_suspended`. `app.roles` tells server admins
 * and trusted agents (server-roles.ts).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { assertAgentActive, getAgentByKeyHash } from '../../core/agents/agents.js';
import type { RegistrationMode } from '../../core/agents/invites.js';
import { GitSwarmError } from '../../errors.js';
import type { Agent } from '../../store/index.js';
import { type ServerRoleLists, type ServerRoles, serverRoles } from '../server-roles.js';
import type { AuthMode } from '../types.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Server admins and trusted agents (GITSWARM_ADMINS, GITSWARM_TRUSTED_AGENTS). */
    roles: ServerRoles;
    /** Who may register: open, invite (a code from an admin) or closed. */
    registrationMode: RegistrationMode;
    /** Forgets every resolved key at once (after a key rotation, revocation or suspension). */
    forgetResolvedKeys(): void;
  }
}

export interface AuthOptions {
  roles?: ServerRoleLists;
  /** Who may register (GITSWARM_REGISTRATION): open (default), invite or closed. */
  registration?: RegistrationMode;
}

export const API_KEY_PREFIX = 'gs_';
const API_KEY_SHAPE = /^gs_[A-Za-z0-9_-]{43}$/;
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
const BASIC = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i;
/** How long a resolved key's agent row may be reused. */
export const AGENT_CACHE_MS = 2000;
const AGENT_CACHE_LIMIT = 10_000;
const AGENT_CHANGING_EVENTS = new Set(['agent.updated', 'karma.changed']);

/** A new API key: `gs_` and 32 random bytes in base64url (43 characters). */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** The stored form of a key: its SHA-256, hex. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The agent owning `key`, or undefined; the hash found is compared in constant time. */
export async function findAgentByApiKey(
  db: FastifyInstance['deps']['store']['db'],
  key: string,
): Promise<Agent | undefined> {
  if (!API_KEY_SHAPE.test(key)) return undefined;
  const hash = hashApiKey(key);
  const agent = await getAgentByKeyHash(db, hash);
  if (!agent?.api_key_hash) return undefined;
  const stored = Buffer.from(agent.api_key_hash, 'hex');
  const given = Buffer.from(hash, 'hex');
  return stored.length === given.length && timingSafeEqual(stored, given) ? agent : undefined;
}

function authModeOf(request: FastifyRequest): AuthMode {
  const configured = request.routeOptions.config?.auth;
  if (configured) return configured;
  return request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS'
    ? 'optional'
    : 'required';
}

/** The password of an HTTP Basic header (the key; the user name is ignored), or its user name when the password is empty. */
function basicPassword(header: string): string | undefined {
  const encoded = BASIC.exec(header)?.[1];
  if (!encoded) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  return password || user || undefined;
}

function credentialsOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string' && header.length > 0) {
    const match = BEARER.exec(header);
    if (match?.[1]) return match[1];
    if (request.routeOptions.config?.basicAuth) {
      const basic = basicPassword(header);
      if (basic) return basic;
    }
    // A malformed header is a wrong key, not an anonymous request.
    return header;
  }
  if (request.routeOptions.config?.queryToken) {
    const token = (request.query as Record<string, unknown> | undefined)?.token;
    if (typeof token === 'string' && token.length > 0) return token;
  }
  return undefined;
}

/** Whether `request` carries a usable identity (for the rate limiter's key). */
const authFailures = new WeakMap<FastifyRequest, GitSwarmError>();

async function authPlugin(app: FastifyInstance, options: AuthOptions): Promise<void> {
  app.decorateRequest('agent', null);
  app.decorate('roles', serverRoles(options.roles));
  app.decorate('registrationMode', options.registration ?? 'open');
  const cache = new Map<string, { agent: Agent; until: number }>();
  app.decorate('forgetResolvedKeys', () => cache.clear());
  const unsubscribe = app.events.subscribe((event) => {
    if (AGENT_CHANGING_EVENTS.has(event.event_type)) cache.clear();
  });
  app.addHook('onClose', async () => unsubscribe());

  const resolve = async (key: string): Promise<Agent | undefined> => {
    const now = Date.now();
    const hash = hashApiKey(key);
    const hit = cache.get(hash);
    if (hit && hit.until > now) return hit.agent;
    const agent = await findAgentByApiKey(app.deps.store.db, key);
    if (agent) {
      if (cache.size >= AGENT_CACHE_LIMIT) cache.clear();
      cache.set(hash, { agent, until: now + AGENT_CACHE_MS });
    }
    return agent;
  };

  app.addHook('onRequest', async (request) => {
    if (request.is404 || authModeOf(request) === 'none') return;
    const key = credentialsOf(request);
    if (key === undefined) return;
    const agent = await resolve(key);
    if (!agent) {
      authFailures.set(request, new GitSwarmError('unauthorized', 'The API key is not valid.'));
    } else {
      try {
        request.agent = assertAgentActive(agent);
      } catch (error) {
        authFailures.set(request, error as GitSwarmError);
      }
    }
  });

  app.addHook('preValidation', async (request) => {
    if (request.is404) return;
    const mode = authModeOf(request);
    if (mode === 'none') return;
    const failure = authFailures.get(request);
    if (failure) throw failure;
    if (mode === 'required' && !request.agent) {
      throw new GitSwarmError('unauthorized', 'This request needs an API key.', {
        hint: 'Send Authorization: Bearer <api key>; register with POST /api/v1/agents to get one.',
      });
    }
  });
}

/** The acting agent, who must be a server admin (GITSWARM_ADMINS); else 403 `forbidden`. */
export function serverAdmin(app: FastifyInstance, request: FastifyRequest): Agent {
  const agent = actingAgent(request);
  if (!app.roles.isAdmin(agent)) {
    throw new GitSwarmError('forbidden', `Agent ${agent.name} is not a server admin.`, {
      hint: 'Server admins are listed in GITSWARM_ADMINS on the server.',
    });
  }
  return agent;
}

/** The acting agent of a request that passed `auth: 'required'`. */
export function actingAgent(request: FastifyRequest): Agent {
  if (!request.agent) throw new GitSwarmError('unauthorized', 'This request needs an API key.');
  return request.agent;
}

/** Resolves `request.agent` from the bearer key and enforces each route's `config.auth`. */
export const auth = fp(authPlugin, {
  name: 'gitswarm-auth',
  fastify: '5.x',
  dependencies: ['gitswarm-core'],
});
