/**
 * The repository settings a user may read and change (`gitswarm config`, PATCH /repos/:id,
 * council `change_settings`), each with its parser and validation in one place.
 */
import { assertValidBranch } from '../engine/names.js';
import { GitSwarmError } from '../errors.js';
import type { Repo, RepoUpdate } from '../store/index.js';

type SettingKey = keyof RepoUpdate & keyof Repo;

interface SettingSpec {
  readonly description: string;
  /** Turns a value (a CLI string, or a JSON value) into the stored value, or throws invalid_input. */
  parse(value: unknown): unknown;
}

function oneOf<T extends string>(...allowed: T[]) {
  return (value: unknown): T => {
    if (typeof value === 'string' && (allowed as string[]).includes(value)) return value as T;
    throw new Error(`expected one of ${allowed.join(', ')}`);
  };
}

function number(min: number, max: number, integer: boolean) {
  return (value: unknown): number => {
    const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (
      typeof n !== 'number' ||
      !Number.isFinite(n) ||
      n < min ||
      n > max ||
      (integer && !Number.isInteger(n))
    ) {
      throw new Error(`expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
    }
    return n;
  };
}

function boolean(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'yes' || value === '1') return true;
  if (value === 'false' || value === 'no' || value === '0') return false;
  throw new Error('expected true or false');
}

function text(maxLength: number, nullable: boolean) {
  return (value: unknown): string | null => {
    if (nullable && (value === null || value === '')) return null;
    if (typeof value !== 'string' || value.length > maxLength || /[\0]/.test(value)) {
      throw new Error(`expected text of at most ${maxLength} characters`);
    }
    return value;
  };
}

function branch(value: unknown): string {
  if (typeof value !== 'string') throw new Error('expected a branch name');
  return assertValidBranch(value);
}

export const REPO_SETTINGS = {
  name: { description: 'Display name', parse: text(255, false) },
  description: { description: 'Description', parse: text(2000, true) },
  merge_mode: { description: 'swarm | review | gated', parse: oneOf('swarm', 'review', 'gated') },
  ownership_model: { description: 'solo | guild | open', parse: oneOf('solo', 'guild', 'open') },
  consensus_threshold: { description: 'Approval ratio needed (0-1)', parse: number(0, 1, false) },
  min_reviews: { description: 'Reviews needed before consensus (guild)', parse: number(0, 100, true) },
  human_review_weight: { description: 'Weight of a human review (open)', parse: number(0, 100, false) },
  agent_access: {
    description: 'public | karma_threshold | allowlist',
    parse: oneOf('public', 'karma_threshold', 'allowlist'),
  },
  min_karma: { description: 'Karma needed for write access (karma_threshold)', parse: number(0, 1e9, true) },
  is_private: { description: 'Only granted agents and maintainers have access', parse: boolean },
  buffer_branch: { description: 'Branch streams merge into', parse: branch },
  promote_target: { description: 'Branch the buffer is promoted to', parse: branch },
  auto_promote_on_green: { description: 'Promote after a green stabilization', parse: boolean },
  auto_revert_on_red: { description: 'Revert the breaking merge after a red stabilization', parse: boolean },
  stabilize_command: { description: 'Test command run by stabilize', parse: text(4000, true) },
  stabilize_timeout_seconds: {
    description: 'Wall-clock limit of one test run',
    parse: number(1, 86_400, true),
  },
  stabilize_memory_mb: { description: 'Memory limit of one test run', parse: number(16, 1_048_576, true) },
  sandbox: {
    description: 'bubblewrap | none (none runs tests unsandboxed)',
    parse: oneOf('bubblewrap', 'none'),
  },
  max_auto_reverts_per_day: {
    description: 'Automatic reverts allowed per day',
    parse: number(0, 1000, true),
  },
  stale_reviews: {
    description: 'dismiss | keep: whether verdicts on code changed since still count',
    parse: oneOf('dismiss', 'keep'),
  },
} as const satisfies Partial<Record<SettingKey, SettingSpec>>;

export type RepoSettingKey = keyof typeof REPO_SETTINGS;

export function isRepoSettingKey(key: string): key is RepoSettingKey {
  return Object.hasOwn(REPO_SETTINGS, key);
}

/** Validates a set of setting changes; throws invalid_input naming the first bad key. */
export function parseRepoSettings(changes: Record<string, unknown>): RepoUpdate {
  const update: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(changes)) {
    if (!isRepoSettingKey(key)) {
      throw new GitSwarmError('invalid_input', `Unknown setting ${JSON.stringify(key)}.`, {
        hint: `Settings: ${Object.keys(REPO_SETTINGS).join(', ')}`,
      });
    }
    try {
      update[key] = REPO_SETTINGS[key].parse(value);
    } catch (error) {
      throw new GitSwarmError('invalid_input', `Invalid value for ${key}: ${(error as Error).message}.`);
    }
  }
  return update as RepoUpdate;
}
