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
  /** Clone `clone_url`s that are local paths or file:// URLs (operators and tests only). */
  readonly allowLocalClone: boolean;
  /** Run stabilization without the bubblewrap sandbox (`--allow-unsandboxed`). */
  readonly allowUnsandboxed: boolean;
  /** How often owed pushes to repositories' remote_url are retried (src/hosting/upstream.ts). */
  readonly upstreamRetrySeconds: number;
  /** This server instance's name in leases (several instances share one database). */
  readonly instanceId: string;
}

export const HOSTING_DEFAULTS = {
  maxWorktreesPerRepo: 64,
  maxFileBytes: 10 * 1024 * 1024,
  maxRequestBytes: 16 * 1024 * 1024,
  allowLocalClone: false,
  allowUnsandboxed: false,
  upstreamRetrySeconds: 30,
} as const;

export function hostingConfig(options: Partial<HostingConfig> = {}): HostingConfig {
  return {
    ...HOSTING_DEFAULTS,
    ...options,
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
