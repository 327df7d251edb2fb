/**
 * Where agents' worktrees live: `<repo root>/.worktrees/<agent name>/`, one per agent, and the
 * git identity an agent commits as.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { assertValidName } from '../../engine/names.js';
import { findGitRepo } from '../../engine/repo.js';
import { GitSwarmError } from '../../errors.js';
import type { Agent, Repo } from '../../store/index.js';

/** The folder under the repository root that holds every agent's worktree. */
export const WORKTREES_DIR = '.worktrees';

/** The repository's git root, or `invalid_state` when the repository has no local path (Mode B/C rows). */
export function repoRoot(repo: Pick<Repo, 'id' | 'path'>): string {
  if (!repo.path) {
    throw new GitSwarmError('invalid_state', `Repository ${repo.id} has no local git path.`);
  }
  return repo.path;
}

/** The worktree path of an agent in a repository. */
export function worktreePath(repo: Pick<Repo, 'id' | 'path'>, agentName: string): string {
  assertValidName('agent', agentName);
  return join(repoRoot(repo), WORKTREES_DIR, agentName);
}

/**
 * The agent whose worktree contains `cwd`, by folder name (`.worktrees/<agent>/...`), or null
 * when `cwd` is not inside one. The CLI uses it to default `--as` inside a worktree.
 */
export function agentNameFromPath(repo: Pick<Repo, 'id' | 'path'>, cwd: string): string | null {
  const base = join(repoRoot(repo), WORKTREES_DIR);
  const rel = relative(base, resolve(cwd));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return null;
  const name = rel.split(sep)[0] ?? '';
  try {
    return assertValidName('agent', name);
  } catch {
    return null;
  }
}

/**
 * Keeps `.worktrees/` out of the main worktree's `git status` and `git add -A` by listing it in
 * the repository's `info/exclude` (shared by all worktrees); idempotent.
 */
export async function excludeWorktreesDir(repoDir: string): Promise<void> {
  const { commonDir } = await findGitRepo(repoDir);
  const infoDir = join(commonDir, 'info');
  const excludeFile = join(infoDir, 'exclude');
  const line = `/${WORKTREES_DIR}/`;
  let current = '';
  try {
    current = await readFile(excludeFile, 'utf8');
  } catch {
    await mkdir(infoDir, { recursive: true });
  }
  if (current.split('\n').some((l) => l.trim() === line)) return;
  const prefix = current === '' || current.endsWith('\n') ? '' : '\n';
  await appendFile(excludeFile, `${prefix}${line}\n`);
}

/** The git identity an agent commits and merges as. */
export function agentIdentity(agent: Pick<Agent, 'name'>): { name: string; email: string } {
  return { name: agent.name, email: `${agent.name}@agents.gitswarm.invalid` };
}

/** The identity of merges, reverts and promotions a council decision (no acting agent) performs. */
export const COUNCIL_IDENTITY = {
  name: 'gitswarm-council',
  email: 'council@agents.gitswarm.invalid',
} as const;

/** The identity of a git step done by `actor`, or by the council when there is none. */
export function actorIdentity(actor: Pick<Agent, 'name'> | null): { name: string; email: string } {
  return actor ? agentIdentity(actor) : { ...COUNCIL_IDENTITY };
}
