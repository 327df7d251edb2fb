/**
 * `gitswarm config [KEY [VALUE]]`: lists, reads or sets a repository setting. Setting one needs
 * an admin (`--as`); every key and value is validated by the core's settings whitelist.
 */
import {
  isRepoSettingKey,
  REPO_SETTINGS,
  type RepoSettingKey,
  repoSetting,
} from '../core/repos/repo-settings.js';
import { updateRepoSettings } from '../core/repos/repos.js';
import { GitSwarmError } from '../errors.js';
import { lockedTransaction } from '../store/index.js';
import { type CommandDeps, requireActor } from './context.js';
import { type Style, safeText, table } from './output.js';

export interface ConfigOptions {
  key?: string;
  value?: string;
}

export type ConfigResult =
  | { settings: Record<RepoSettingKey, unknown> }
  | { key: RepoSettingKey; value: unknown }
  | { key: RepoSettingKey; value: unknown; previous: unknown; changed: boolean };

function assertKey(key: string): RepoSettingKey {
  if (!isRepoSettingKey(key)) {
    throw new GitSwarmError('invalid_input', `Unknown setting ${JSON.stringify(key)}.`, {
      hint: `Settings: ${Object.keys(REPO_SETTINGS).join(', ')}`,
    });
  }
  return key;
}

/** Lists every setting, reads one, or sets one (admin). */
export async function runConfig(opts: ConfigOptions, deps: CommandDeps): Promise<ConfigResult> {
  if (deps.remote) {
    const { configRemote } = await import('../remote/commands/governance.js');
    return configRemote(opts, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const repo = ctx.repo;
  if (opts.key === undefined) {
    const settings = {} as Record<RepoSettingKey, unknown>;
    for (const key of Object.keys(REPO_SETTINGS) as RepoSettingKey[]) settings[key] = repoSetting(repo, key);
    return { settings };
  }
  const key = assertKey(opts.key);
  const previous = repoSetting(repo, key);
  if (opts.value === undefined) return { key, value: previous };
  const actor = await requireActor(deps);
  const value = opts.value;
  const updated = await lockedTransaction(core.store, ctx.repo.id, (trx) =>
    updateRepoSettings(core, trx, { repo: ctx.repo, actor, changes: { [key]: value } }),
  );
  const after = repoSetting(updated, key);
  const changed = JSON.stringify(after) !== JSON.stringify(previous);
  return { key, value: after, previous, changed };
}

function show(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? '-' : safeText(value.join(','));
  return value === null || value === undefined ? '-' : safeText(String(value));
}

export function formatConfig(result: ConfigResult, style: Style): string {
  if ('settings' in result) {
    return table(
      (Object.keys(result.settings) as RepoSettingKey[]).map((key) => [
        key,
        show(result.settings[key]),
        style.dim(REPO_SETTINGS[key].description),
      ]),
    );
  }
  if ('previous' in result) {
    return result.changed
      ? `Set ${result.key} to ${show(result.value)} (was ${show(result.previous)}).`
      : `${result.key} is already ${show(result.value)}; nothing changed.`;
  }
  return show(result.value);
}
