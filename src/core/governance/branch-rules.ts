/**
 * Branch rules (spec section 9, gitswarm_branch_rules): per-branch-pattern protection settings of a
 * repository, kept and validated here (admin to change, anyone who can read the repository to list).
 * A pattern is a branch name in which `*` matches any run of characters within one path segment and
 * `**` any run including `/`. `matchBranchRule` picks the rule with the highest priority (then the
 * longest pattern) for a branch. Merges into the buffer apply the buffer's rule: consensus.ts (threshold,
 * required approvals) and stream-merge.ts assertMergeable (merge_restriction).
 */
import { GitSwarmError } from '../../errors.js';
import { type Agent, type Executor, queryTemplate, type Repo } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { isUuid, newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from './access.js';

export type DirectPush = 'none' | 'maintainers' | 'all';
export type MergeRestriction = 'maintainers_only' | null;

export interface BranchRuleFields {
  branch_pattern: string;
  direct_push: DirectPush;
  required_approvals: number;
  require_tests_pass: boolean;
  consensus_threshold: number | null;
  merge_restriction: MergeRestriction;
  priority: number;
}

export interface BranchRule extends BranchRuleFields {
  id: string;
  repo_id: string;
  created_at: string;
}

const PATTERN = /^[A-Za-z0-9*][A-Za-z0-9._/*-]{0,254}$/;
const DIRECT_PUSH: readonly DirectPush[] = ['none', 'maintainers', 'all'];

function invalid(message: string): GitSwarmError {
  return new GitSwarmError('invalid_input', message);
}

/** Checks the fields of a rule (all of them for a new rule, the given ones for a change). */
export function parseBranchRuleFields(
  input: Partial<Record<keyof BranchRuleFields, unknown>>,
): Partial<BranchRuleFields> {
  const out: Partial<BranchRuleFields> = {};
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    switch (key) {
      case 'branch_pattern':
        if (
          typeof value !== 'string' ||
          !PATTERN.test(value) ||
          value.includes('..') ||
          value.includes('//')
        ) {
          throw invalid('A branch pattern is a branch name where "*" and "**" may stand for parts of it.');
        }
        out.branch_pattern = value;
        break;
      case 'direct_push':
        if (!DIRECT_PUSH.includes(value as DirectPush))
          throw invalid('direct_push is none, maintainers or all.');
        out.direct_push = value as DirectPush;
        break;
      case 'required_approvals':
        if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 100) {
          throw invalid('required_approvals is a whole number from 0 to 100.');
        }
        out.required_approvals = value as number;
        break;
      case 'require_tests_pass':
        if (typeof value !== 'boolean') throw invalid('require_tests_pass is true or false.');
        out.require_tests_pass = value;
        break;
      case 'consensus_threshold':
        if (value !== null && (typeof value !== 'number' || !(value >= 0 && value <= 1))) {
          throw invalid('consensus_threshold is a number from 0 to 1, or null for the repository default.');
        }
        out.consensus_threshold = value as number | null;
        break;
      case 'merge_restriction':
        if (value !== null && value !== 'maintainers_only') {
          throw invalid('merge_restriction is maintainers_only, or null for none.');
        }
        out.merge_restriction = value as MergeRestriction;
        break;
      case 'priority':
        if (!Number.isInteger(value) || Math.abs(value as number) > 1_000_000) {
          throw invalid('priority is a whole number from -1000000 to 1000000.');
        }
        out.priority = value as number;
        break;
      default:
        throw invalid(`Unknown branch rule field ${JSON.stringify(key)}.`);
    }
  }
  return out;
}

/** The repository's branch rules, highest priority first. */
export async function listBranchRules(db: Executor, repoId: string): Promise<BranchRule[]> {
  return (await branchRules(db, { repoId })) as BranchRule[];
}

/** The query listBranchRules runs (batch.ts). */
export function branchRulesQuery(db: Executor, repoId: string) {
  return branchRules.bind(db, { repoId });
}

/** Compiled once per store: every review and merge check reads the rules. */
const branchRules = queryTemplate(['repoId'], (db, { repoId }) =>
  db
    .selectFrom('gitswarm_branch_rules')
    .selectAll()
    .where('repo_id', '=', repoId)
    .orderBy('priority', 'desc')
    .orderBy('created_at')
    .orderBy('id'),
);

async function getBranchRule(db: Executor, repoId: string, ruleId: string): Promise<BranchRule> {
  const rule = isUuid(ruleId)
    ? await db
        .selectFrom('gitswarm_branch_rules')
        .selectAll()
        .where('repo_id', '=', repoId)
        .where('id', '=', ruleId)
        .executeTakeFirst()
    : undefined;
  if (!rule)
    throw new GitSwarmError('not_found', `No branch rule ${JSON.stringify(ruleId)} in this repository.`);
  return rule as BranchRule;
}

async function assertPatternFree(
  db: Executor,
  repoId: string,
  pattern: string,
  exceptId?: string,
): Promise<void> {
  let q = db
    .selectFrom('gitswarm_branch_rules')
    .select('id')
    .where('repo_id', '=', repoId)
    .where('branch_pattern', '=', pattern);
  if (exceptId) q = q.where('id', '!=', exceptId);
  if (await q.executeTakeFirst()) {
    throw new GitSwarmError('already_exists', `A rule for ${pattern} already exists; change that one.`);
  }
}

/** Creates a rule (admin); `branch_pattern` is required, the rest take the schema's defaults. */
export async function createBranchRule(
  deps: CoreDeps,
  db: Executor,
  input: { repo: Repo; actor: Agent; fields: Partial<Record<keyof BranchRuleFields, unknown>> },
): Promise<BranchRule> {
  const fields = parseBranchRuleFields(input.fields);
  if (!fields.branch_pattern) throw invalid('A branch rule needs a branch_pattern.');
  await requireAction(deps, db, input.repo, input.actor, 'settings');
  await assertPatternFree(db, input.repo.id, fields.branch_pattern);
  const rule = await db
    .insertInto('gitswarm_branch_rules')
    .values({
      id: newId(),
      repo_id: input.repo.id,
      branch_pattern: fields.branch_pattern,
      direct_push: fields.direct_push ?? 'none',
      required_approvals: fields.required_approvals ?? 1,
      require_tests_pass: fields.require_tests_pass ?? false,
      consensus_threshold: fields.consensus_threshold ?? null,
      merge_restriction: fields.merge_restriction ?? null,
      priority: fields.priority ?? 0,
      created_at: isoNow(deps.clock),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: 'branch_rule.created',
    repoId: input.repo.id,
    agentId: input.actor.id,
    targetType: 'branch_rule',
    targetId: rule.id,
    metadata: { ...fields },
  });
  return rule as BranchRule;
}

/** Changes a rule (admin). */
export async function updateBranchRule(
  deps: CoreDeps,
  db: Executor,
  input: {
    repo: Repo;
    actor: Agent;
    ruleId: string;
    fields: Partial<Record<keyof BranchRuleFields, unknown>>;
  },
): Promise<BranchRule> {
  const fields = parseBranchRuleFields(input.fields);
  if (Object.keys(fields).length === 0) throw invalid('Nothing to change.');
  await requireAction(deps, db, input.repo, input.actor, 'settings');
  const rule = await getBranchRule(db, input.repo.id, input.ruleId);
  if (fields.branch_pattern) await assertPatternFree(db, input.repo.id, fields.branch_pattern, rule.id);
  const updated = await db
    .updateTable('gitswarm_branch_rules')
    .set(fields)
    .where('id', '=', rule.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: 'branch_rule.updated',
    repoId: input.repo.id,
    agentId: input.actor.id,
    targetType: 'branch_rule',
    targetId: rule.id,
    metadata: { changes: fields },
  });
  return updated as BranchRule;
}

/** Deletes a rule (admin). */
export async function deleteBranchRule(
  deps: CoreDeps,
  db: Executor,
  input: { repo: Repo; actor: Agent; ruleId: string },
): Promise<void> {
  await requireAction(deps, db, input.repo, input.actor, 'settings');
  const rule = await getBranchRule(db, input.repo.id, input.ruleId);
  await db.deleteFrom('gitswarm_branch_rules').where('id', '=', rule.id).execute();
  await recordActivity(deps, db, {
    event: 'branch_rule.deleted',
    repoId: input.repo.id,
    agentId: input.actor.id,
    targetType: 'branch_rule',
    targetId: rule.id,
    metadata: { branch_pattern: rule.branch_pattern },
  });
}

function patternToRegExp(pattern: string): RegExp {
  const escaped = pattern
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((piece) => piece.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*'),
    )
    .join('.*');
  return new RegExp(`^${escaped}$`);
}

/** The rule that applies to `branch`: highest priority, then the longest (most specific) pattern. */
export function matchBranchRule<T extends Pick<BranchRule, 'branch_pattern' | 'priority'>>(
  rules: readonly T[],
  branch: string,
): T | undefined {
  return rules
    .filter((rule) => patternToRegExp(rule.branch_pattern).test(branch))
    .sort((a, b) => b.priority - a.priority || b.branch_pattern.length - a.branch_pattern.length)[0];
}

/** The rule that applies to `branch` in a repository, or null. */
export async function findBranchRule(
  db: Executor,
  repoId: string,
  branch: string,
): Promise<BranchRule | null> {
  return matchBranchRule(await listBranchRules(db, repoId), branch) ?? null;
}
