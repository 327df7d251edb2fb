/**
 * The repository settings a user may read and change (`gitswarm config`, PATCH /repos/:id,
 * council `change_settings`), each with its parser and validation in one place. Most are columns
 * of the repository row; the newer stabilization settings live in its `metadata.settings` (read
 * them with {@link repoSetting}, which gives the default when unset).
 */
import { availableParallelism } from 'node:os';
import { assertValidBranch } from '../../engine/names.js';
import { DEFAULT_MAX_PROCESSES } from '../../engine/sandbox.js';
import { assertDependencyDir, DEFAULT_DEPENDENCY_DIRS } from '../../engine/sandbox-deps.js';
import { GitSwarmError } from '../../errors.js';
import { type Repo, type RepoUpdate, toJson } from '../../store/index.js';

/** The most test runs a bisection may run at once (`stabilize_parallelism`). */
export const MAX_STABILIZE_PARALLELISM = 64;

/** `stabilize_parallelism` when unset: the cores this process may use. */
export const DEFAULT_STABILIZE_PARALLELISM = Math.min(
  MAX_STABILIZE_PARALLELISM,
  Math.max(1, availableParallelism()),
);

type SettingKey = keyof RepoUpdate & keyof Repo;

interface SettingSpec {
  readonly description: string;
  /** Turns a value (a CLI string, or a JSON value) into the stored value, or throws invalid_input. */
  parse(value: unknown): unknown;
  /** Kept in `metadata.settings` rather than a column; the value when unset. */
  readonly metadataDefault?: unknown;
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

/** A list: a JSON array of strings, or a comma-separated string (`""` is the empty list). */
function folderList(value: unknown): string[] {
  let items: unknown = value;
  if (typeof value === 'string') {
    items = value.trim().startsWith('[')
      ? (() => {
          try {
            return JSON.parse(value) as unknown;
          } catch {
            throw new Error('expected a JSON array of folder names or a comma-separated list');
          }
        })()
      : value.split(',').filter((item) => item.trim() !== '');
  }
  if (!Array.isArray(items) || items.length > 50 || items.some((item) => typeof item !== 'string')) {
    throw new Error('expected a list of at most 50 folder names (JSON array or comma-separated)');
  }
  return [...new Set((items as string[]).map(assertDependencyDir))];
}

/** GitHub's `owner/name`: an account (1-39 letters, digits, "-") and a repository name. */
const GITHUB_FULL_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}\/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/;

function githubFullName(value: unknown): string | null {
  if (value === null) return null;
  if (typeof value !== 'string' || !GITHUB_FULL_NAME.test(value)) throw new Error('expected owner/name');
  return value;
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
  stabilize_max_processes: {
    description: 'Processes one test run may have at once',
    parse: number(8, 1_000_000, true),
    metadataDefault: DEFAULT_MAX_PROCESSES,
  },
  stabilize_dependency_dirs: {
    description: 'Ignored folders of the checkout shown in a test run (comma list or JSON array)',
    parse: folderList,
    metadataDefault: DEFAULT_DEPENDENCY_DIRS,
  },
  stabilize_setup_command: {
    description: 'Command run before the tests in the same worktree (its failure is an error)',
    parse: text(4000, true),
    metadataDefault: null,
  },
  stabilize_setup_network: {
    description: 'Whether the setup command may use the network',
    parse: boolean,
    metadataDefault: false,
  },
  stabilize_parallelism: {
    description: 'Test runs a red bisection runs at once, each in its own sandbox (1-64; default: the cores)',
    parse: number(1, MAX_STABILIZE_PARALLELISM, true),
    metadataDefault: DEFAULT_STABILIZE_PARALLELISM,
  },
  max_auto_reverts_per_day: {
    description: 'Automatic reverts allowed per day',
    parse: number(0, 1000, true),
  },
  stale_reviews: {
    description: 'dismiss | keep: whether verdicts on code changed since still count',
    parse: oneOf('dismiss', 'keep'),
  },
  github_full_name: {
    description:
      'The GitHub repository (owner/name) whose pull requests and reviews feed this one; null unlinks',
    parse: githubFullName,
  },
  offline_merges: {
    description:
      'refuse | allow: whether a connected clone may merge (review, gated) while the server is down; the server re-checks on report',
    parse: oneOf('refuse', 'allow'),
    metadataDefault: 'refuse',
  },
} as const satisfies Record<string, SettingSpec> & Partial<Record<SettingKey, SettingSpec>>;

export type RepoSettingKey = keyof typeof REPO_SETTINGS;

export function isRepoSettingKey(key: string): key is RepoSettingKey {
  return Object.hasOwn(REPO_SETTINGS, key);
}

function metadataDefault(key: RepoSettingKey): { value: unknown } | undefined {
  const spec: SettingSpec = REPO_SETTINGS[key];
  return 'metadataDefault' in spec ? { value: spec.metadataDefault } : undefined;
}

/** Settings a repository keeps in `metadata.settings`, as stored there. */
function storedMetadataSettings(metadata: unknown): Record<string, unknown> {
  const settings = (metadata as { settings?: unknown } | null | undefined)?.settings;
  return settings && typeof settings === 'object' && !Array.isArray(settings)
    ? (settings as Record<string, unknown>)
    : {};
}

/** A setting's current value: its column, or its `metadata.settings` entry (default when unset). */
export function repoSetting<K extends RepoSettingKey>(
  repo: Pick<Repo, 'metadata'> & Partial<Repo>,
  key: K,
): unknown {
  const fallback = metadataDefault(key);
  if (!fallback) return (repo as Record<string, unknown>)[key];
  const stored = storedMetadataSettings(repo.metadata);
  return Object.hasOwn(stored, key) ? stored[key] : fallback.value;
}

/** The settings of one stabilize test run: the repository's limits and those kept in metadata, typed. */
export function stabilizeRunSettings(
  repo: Pick<Repo, 'metadata' | 'stabilize_timeout_seconds' | 'stabilize_memory_mb'>,
): {
  timeoutMs: number;
  memoryMb: number;
  maxProcesses: number;
  dependencyDirs: string[];
  setupCommand: string | null;
  setupNetwork: boolean;
} {
  return {
    timeoutMs: repo.stabilize_timeout_seconds * 1000,
    memoryMb: repo.stabilize_memory_mb,
    maxProcesses: repoSetting(repo, 'stabilize_max_processes') as number,
    dependencyDirs: [...(repoSetting(repo, 'stabilize_dependency_dirs') as readonly string[])],
    setupCommand: repoSetting(repo, 'stabilize_setup_command') as string | null,
    setupNetwork: repoSetting(repo, 'stabilize_setup_network') as boolean,
  };
}

/** Test runs a red stabilization's bisection runs at once (`stabilize_parallelism`). */
export function stabilizeParallelism(repo: Pick<Repo, 'metadata'>): number {
  return repoSetting(repo, 'stabilize_parallelism') as number;
}

/**
 * Validates a set of setting changes; throws invalid_input naming the first bad key. Settings
 * kept in metadata are merged into `currentMetadata` (the repository's, for an update) and come
 * back as the row's new `metadata`.
 */
export function parseRepoSettings(
  changes: Record<string, unknown>,
  currentMetadata: Record<string, unknown> = {},
): RepoUpdate {
  const update: Record<string, unknown> = {};
  const inMetadata: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(changes)) {
    if (!isRepoSettingKey(key)) {
      throw new GitSwarmError('invalid_input', `Unknown setting ${JSON.stringify(key)}.`, {
        hint: `Settings: ${Object.keys(REPO_SETTINGS).join(', ')}`,
      });
    }
    try {
      const parsed = REPO_SETTINGS[key].parse(value);
      if (metadataDefault(key)) inMetadata[key] = parsed;
      else update[key] = parsed;
    } catch (error) {
      throw new GitSwarmError('invalid_input', `Invalid value for ${key}: ${(error as Error).message}.`);
    }
  }
  if (Object.keys(inMetadata).length > 0) {
    const settings = { ...storedMetadataSettings(currentMetadata), ...inMetadata };
    update.metadata = toJson({ ...currentMetadata, settings });
  }
  return update as RepoUpdate;
}
