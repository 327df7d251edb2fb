/**
 * The server's abuse limits and trust lists from the environment (docs/security.md):
 * GITSWARM_REGISTRATION (open | invite | closed), GITSWARM_ADMINS, GITSWARM_TRUSTED_AGENTS,
 * GITSWARM_RATE_LIMIT (requests per minute per key), GITSWARM_RATE_LIMIT_PER_ADDRESS,
 * GITSWARM_REGISTRATIONS_PER_HOUR, GITSWARM_WS_PER_KEY, GITSWARM_WS_PER_ADDRESS, and
 * GITSWARM_TRUST_PROXY=1 (behind a proxy: the client address is X-Forwarded-For's).
 * A value that is not valid stops the server at start with a message naming the variable.
 */

import { REGISTRATION_MODES, type RegistrationMode } from '../core/agents/invites.js';
import { GitSwarmError } from '../errors.js';
import type { BuildAppOptions } from './app.js';
import type { RateLimitSettings } from './plugins/rate-limit.js';
import type { WebsocketOptions } from './plugins/websocket.js';
import { parseList } from './server-roles.js';

function positiveInteger(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 1) {
    throw new GitSwarmError(
      'invalid_input',
      `${name} must be a whole number of at least 1, not ${JSON.stringify(value)}.`,
    );
  }
  return number;
}

export type SecurityOptions = Pick<BuildAppOptions, 'registration' | 'roles' | 'trustProxy'> & {
  rateLimit: RateLimitSettings;
  websocket: WebsocketOptions;
};

export function securityOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): SecurityOptions {
  const registration = env.GITSWARM_REGISTRATION || 'open';
  if (!(REGISTRATION_MODES as readonly string[]).includes(registration)) {
    throw new GitSwarmError(
      'invalid_input',
      `GITSWARM_REGISTRATION must be one of ${REGISTRATION_MODES.join(', ')}.`,
    );
  }
  const defined = <T extends object>(value: T): T =>
    Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
  return {
    registration: registration as RegistrationMode,
    trustProxy: env.GITSWARM_TRUST_PROXY === '1',
    roles: { admins: parseList(env.GITSWARM_ADMINS), trusted: parseList(env.GITSWARM_TRUSTED_AGENTS) },
    rateLimit: defined({
      max: positiveInteger(env, 'GITSWARM_RATE_LIMIT'),
      perAddressMax: positiveInteger(env, 'GITSWARM_RATE_LIMIT_PER_ADDRESS'),
      registrationsMax: positiveInteger(env, 'GITSWARM_REGISTRATIONS_PER_HOUR'),
    }),
    websocket: defined({
      maxPerKey: positiveInteger(env, 'GITSWARM_WS_PER_KEY'),
      maxPerAddress: positiveInteger(env, 'GITSWARM_WS_PER_ADDRESS'),
    }),
  };
}
