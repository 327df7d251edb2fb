import { describe, expect, it } from 'vitest';
import { securityOptionsFromEnv } from '../../src/server/security-config.js';

describe('the security settings from the environment', () => {
  it('defaults: open registration, no admins, the built-in limits', () => {
    expect(securityOptionsFromEnv({})).toEqual({
      registration: 'open',
      trustProxy: false,
      roles: { admins: [], trusted: [] },
      rateLimit: {},
      websocket: {},
    });
  });

  it('reads every variable', () => {
    const options = securityOptionsFromEnv({
      GITSWARM_REGISTRATION: 'invite',
      GITSWARM_ADMINS: 'root, 123e4567-e89b-12d3-a456-426614174000',
      GITSWARM_TRUSTED_AGENTS: 'ci-bot',
      GITSWARM_RATE_LIMIT: '100',
      GITSWARM_RATE_LIMIT_PER_ADDRESS: '300',
      GITSWARM_REGISTRATIONS_PER_HOUR: '2',
      GITSWARM_WS_PER_KEY: '3',
      GITSWARM_WS_PER_ADDRESS: '9',
      GITSWARM_TRUST_PROXY: '1',
    });
    expect(options).toEqual({
      registration: 'invite',
      trustProxy: true,
      roles: { admins: ['root', '123e4567-e89b-12d3-a456-426614174000'], trusted: ['ci-bot'] },
      rateLimit: { max: 100, perAddressMax: 300, registrationsMax: 2 },
      websocket: { maxPerKey: 3, maxPerAddress: 9 },
    });
  });

  it.each([
    [{ GITSWARM_REGISTRATION: 'sometimes' }, /GITSWARM_REGISTRATION must be one of open, invite, closed/],
    [{ GITSWARM_RATE_LIMIT_PER_ADDRESS: '0' }, /GITSWARM_RATE_LIMIT_PER_ADDRESS must be a whole number/],
    [{ GITSWARM_WS_PER_KEY: 'lots' }, /GITSWARM_WS_PER_KEY must be a whole number/],
  ])('refuses %o', (env, message) => {
    expect(() => securityOptionsFromEnv(env)).toThrow(message);
  });
});
