/**
 * `.gitswarm/config.json`: which repository row this checkout is, and where its store lives
 * (default `.gitswarm/federation.db`, a path relative to the repository root or a postgres URL).
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { GitSwarmError } from '../errors.js';

export const GITSWARM_DIR = '.gitswarm';
export const CONFIG_FILE = 'config.json';
export const DEFAULT_DB_FILE = 'federation.db';

export interface GitSwarmConfig {
  repo_id: string;
  /** A SQLite path (relative to the repository root) or a postgres:// URL. */
  database?: string;
}

/** Reads the config, or returns null when the repository is not initialized. */
export function readConfigFile(root: string): GitSwarmConfig | null {
  const file = join(root, GITSWARM_DIR, CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new GitSwarmError('invalid_input', `${file} is not valid JSON.`, {
      hint: 'Fix or delete the file, then run: gitswarm init',
    });
  }
  const config = parsed as Partial<GitSwarmConfig> | null;
  if (!config || typeof config.repo_id !== 'string') {
    throw new GitSwarmError('invalid_input', `${file} has no repo_id.`, {
      hint: 'Delete the file, then run: gitswarm init',
    });
  }
  return {
    repo_id: config.repo_id,
    ...(typeof config.database === 'string' ? { database: config.database } : {}),
  };
}

/** Writes the config atomically (write to a temporary file, then rename). */
export function writeConfigFile(root: string, config: GitSwarmConfig): void {
  const dir = join(root, GITSWARM_DIR);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, CONFIG_FILE);
  const temporary = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`);
  renameSync(temporary, file);
}

/**
 * Where the store is: GITSWARM_DB, else the config's `database`, else DATABASE_URL, else
 * `.gitswarm/federation.db`. Relative SQLite paths resolve against the repository root.
 */
export function resolveStoreLocation(
  root: string,
  config: GitSwarmConfig | null,
  env: Readonly<Record<string, string | undefined>>,
): string {
  const named = env.GITSWARM_DB || config?.database || env.DATABASE_URL;
  if (!named) return join(root, GITSWARM_DIR, DEFAULT_DB_FILE);
  if (/^(postgres(ql)?:\/\/|pglite:)/.test(named) || named === ':memory:' || isAbsolute(named)) return named;
  return resolve(root, named);
}
