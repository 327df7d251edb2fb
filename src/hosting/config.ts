/**
 * Mode C settings: where the server keeps the repositories it holds and the limits it puts on
 * them. Every hosting module and route reads them from here (`app.hosting` in the server).
 */
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { assertValidName } from '../engine/names.js';
import { GitSwarmError } from '../errors.js';

export interface HostingConfig {
  /**
   * The data dir: repositories at `<dataDir>/repos/<repoId>`, stream worktrees at
   * `<dataDir>/worktrees/<repoId>/<streamId>`. Null: this server holds no git (Mode B only).
   */
  readonly dataDir: string | null;
  /** Live stream worktrees per repository; one more answers 409 `worktree_limit`. */
  readonly maxWorktreesPerRepo: number;
  /** Largest file the files API writes (413 above). */
  readonly maxFileBytes: number;
  /** Largest request body on the files and patch routes (413 above). */
  readonly maxRequestBytes: number;
  /** git http-backend processes serving clones and fetches at once; one more answers 429. */
  readonly maxGitProcesses: number;
  /** Of those, how many one client (an agent, or an address when anonymous) may hold. */
  readonly maxGitProcessesPerClient: number;
  /** Largest repository a `clone_url` may bring, on disk (413 above; the clone is removed). */
  readonly maxCloneBytes: number;
  /** Longest a clone of `clone_url` may take. */
  readonly cloneTimeoutMs: number;
  /** Clone `clone_url`s that are local paths or file:// URLs (operators and tests only). */
  readonly allowLocalClone: boolean;
  /** Run stabilization without the bubblewrap sandbox (`--allow-unsandboxed`). */
  readonly allowUnsandboxed: boolean;
  /** How often owed pushes to repositories' remote_url are retried (src/hosting/upstream.ts). */
  readonly upstreamRetrySeconds: number;
  /** This server instance's name in leases (several instances share one database). */
  readonly instanceId: string;
  /** How server stabilization runs are leased and polled (hosting/stabilize-jobs.ts). */
  readonly stabilizeRuns: StabilizeRunSettings;
}

/** The durable stabilization runs' timing: small in tests, the defaults in production. */
export interface StabilizeRunSettings {
  /** How long a lease holds without renewal; another instance takes a run over after it. */
  readonly leaseMs: number;
  /** How often the running instance renews its lease (and saves the log tail). */
  readonly renewMs: number;
  /** How often an instance looks for queued runs and lapsed leases. */
  readonly pollMs: number;
  /** Starts of one run (its server died mid-run each time) before it ends as `error`. */
  readonly maxAttempts: number;
  /** Runs one instance executes at once (of different repositories). */
  readonly concurrency: number;
  /** PATH for bubblewrap and the command's tools; default this process's PATH. */
  readonly searchPath?: string;
}

export const STABILIZE_RUN_DEFAULTS: StabilizeRunSettings = {
  leaseMs: 60_000,
  renewMs: 15_000,
  pollMs: 5_000,
  maxAttempts: 3,
  concurrency: 2,
};

export const HOSTING_DEFAULTS = {
  maxWorktreesPerRepo: 64,
  maxFileBytes: 10 * 1024 * 1024,
  maxRequestBytes: 16 * 1024 * 1024,
  maxGitProcesses: 16,
  maxGitProcessesPerClient: 4,
  maxCloneBytes: 2 * 1024 * 1024 * 1024,
  cloneTimeoutMs: 10 * 60_000,
  allowLocalClone: false,
  allowUnsandboxed: false,
  upstreamRetrySeconds: 30,
} as const;

/** The run settings with defaults; a lease given alone is renewed four times per lease (at most every 15 s). */
function stabilizeRunSettings(options: Partial<StabilizeRunSettings> = {}): StabilizeRunSettings {
  const leaseMs = options.leaseMs ?? STABILIZE_RUN_DEFAULTS.leaseMs;
  const settings = {
    ...STABILIZE_RUN_DEFAULTS,
    renewMs:
      options.leaseMs === undefined
        ? STABILIZE_RUN_DEFAULTS.renewMs
        : Math.max(10, Math.min(STABILIZE_RUN_DEFAULTS.renewMs, Math.floor(leaseMs / 4))),
    ...options,
  };
  if (!(settings.renewMs < settings.leaseMs) || settings.maxAttempts < 1 || settings.concurrency < 1) {
    throw new GitSwarmError(
      'invalid_input',
      'Stabilization runs need a renewal shorter than the lease, and at least one attempt and one run at once.',
    );
  }
  return settings;
}

export type HostingOptions = Partial<Omit<HostingConfig, 'stabilizeRuns'>> & {
  stabilizeRuns?: Partial<StabilizeRunSettings>;
};

export function hostingConfig(options: HostingOptions = {}): HostingConfig {
  return {
    ...HOSTING_DEFAULTS,
    ...options,
    stabilizeRuns: stabilizeRunSettings(options.stabilizeRuns),
    dataDir: options.dataDir ? resolve(options.dataDir) : null,
    instanceId: options.instanceId ?? `gitswarm-${randomUUID()}`,
  };
}

/** The data dir, or 400 `invalid_input` when this server keeps no repositories. */
export function requireDataDir(config: HostingConfig): string {
  if (!config.dataDir) {
    throw new GitSwarmError('invalid_input', 'This server holds no git repositories (server_git).', {
      hint: 'Start it with a data dir (gitswarm serve --data-dir DIR, or GITSWARM_DATA_DIR).',
    });
  }
  return config.dataDir;
}

/** Where a server-held repository's git lives. */
export function hostedRepoDir(config: HostingConfig, repoId: string): string {
  return join(requireDataDir(config), 'repos', assertValidName('repository id', repoId));
}

/** Where a stream's server worktree lives. */
export function hostedWorktreeDir(config: HostingConfig, repoId: string, streamId: string): string {
  return join(
    requireDataDir(config),
    'worktrees',
    assertValidName('repository id', repoId),
    assertValidName('stream id', streamId),
  );
}
