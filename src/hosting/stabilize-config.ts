/**
 * The environment variables of server stabilization runs (`gitswarm serve`):
 * GITSWARM_INSTANCE_ID (this instance's name in leases; a restarted instance of the same name
 * takes its own runs back at once), GITSWARM_STABILIZE_LEASE_MS (60000),
 * GITSWARM_STABILIZE_POLL_MS (5000), GITSWARM_STABILIZE_MAX_ATTEMPTS (3) and
 * GITSWARM_STABILIZE_CONCURRENCY (2).
 */
import { GitSwarmError } from '../errors.js';
import type { HostingOptions, StabilizeRunSettings } from './config.js';

function positiveInteger(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    throw new GitSwarmError(
      'invalid_input',
      `${name} must be a positive integer, not ${JSON.stringify(value)}.`,
    );
  }
  return number;
}

/** The hosting options these variables set (none when unset). */
export function stabilizeOptionsFromEnv(env: NodeJS.ProcessEnv): HostingOptions {
  const runs: { -readonly [K in keyof StabilizeRunSettings]?: StabilizeRunSettings[K] } = {};
  const leaseMs = positiveInteger(env, 'GITSWARM_STABILIZE_LEASE_MS');
  const pollMs = positiveInteger(env, 'GITSWARM_STABILIZE_POLL_MS');
  const maxAttempts = positiveInteger(env, 'GITSWARM_STABILIZE_MAX_ATTEMPTS');
  const concurrency = positiveInteger(env, 'GITSWARM_STABILIZE_CONCURRENCY');
  if (leaseMs !== undefined) runs.leaseMs = leaseMs;
  if (pollMs !== undefined) runs.pollMs = pollMs;
  if (maxAttempts !== undefined) runs.maxAttempts = maxAttempts;
  if (concurrency !== undefined) runs.concurrency = concurrency;
  return {
    ...(env.GITSWARM_INSTANCE_ID ? { instanceId: env.GITSWARM_INSTANCE_ID } : {}),
    ...(Object.keys(runs).length > 0 ? { stabilizeRuns: runs } : {}),
  };
}
