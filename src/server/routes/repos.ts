/**
 * Repositories: create, list, read, change settings; maintainers and explicit access grants.
 * Every rule (who may change what, which values are valid) is the core's: repos.ts,
 * repo-settings.ts, maintainers.ts, access.ts.
 */
import Type from 'typebox';
import { getAgent } from '../../core/agents/agents.js';
import { grantAccess, listAccessGrants, resolveAccess, revokeAccess } from '../../core/governance/access.js';
import {
  createBranchRule,
  deleteBranchRule,
  listBranchRules,
  updateBranchRule,
} from '../../core/governance/branch-rules.js';
import { addMaintainer, listMaintainers, removeMaintainer } from '../../core/governance/maintainers.js';
import { archiveRepo } from '../../core/repos/repo-archive.js';
import { createRepo, getRepo, listRepos, updateRepoSettings } from '../../core/repos/repos.js';
import { GitSwarmError } from '../../errors.js';
import { createServerRepo } from '../../hosting/server-repos.js';
import { repoView } from '../../hosting/upstream.js';
import { lockedTransaction, type Repo } from '../../store/index.js';
import { actingAgent } from '../plugins/auth.js';
import { canRead, readableRepo } from '../route-helpers.js';
import {
  Closed,
  errorResponses,
  Id,
  IdParams,
  Nullable,
  OkResponse,
  RepoView,
  Timestamp,
} from '../schemas.js';
import type { App } from '../types.js';

/** The settings a client may set (src/core/repos/repo-settings.ts validates the values). */
export const RepoSettingsProperties = {
  description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  merge_mode: Type.Optional(
    Type.Union([Type.Literal('swarm'), Type.Literal('review'), Type.Literal('gated')]),
  ),
  ownership_model: Type.Optional(
    Type.Union([Type.Literal('solo'), Type.Literal('guild'), Type.Literal('open')]),
  ),
  consensus_threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  min_reviews: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  human_review_weight: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
  agent_access: Type.Optional(
    Type.Union([Type.Literal('public'), Type.Literal('karma_threshold'), Type.Literal('allowlist')]),
  ),
  min_karma: Type.Optional(Type.Integer({ minimum: 0 })),
  is_private: Type.Optional(Type.Boolean()),
  buffer_branch: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  promote_target: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  auto_promote_on_green: Type.Optional(Type.Boolean()),
  auto_revert_on_red: Type.Optional(Type.Boolean()),
  stabilize_command: Type.Optional(Nullable(Type.String({ maxLength: 4000 }))),
  stabilize_timeout_seconds: Type.Optional(Type.Integer({ minimum: 1 })),
  stabilize_memory_mb: Type.Optional(Type.Integer({ minimum: 16 })),
  sandbox: Type.Optional(Type.Union([Type.Literal('bubblewrap'), Type.Literal('none')])),
  max_auto_reverts_per_day: Type.Optional(Type.Integer({ minimum: 0 })),
  stale_reviews: Type.Optional(Type.Union([Type.Literal('dismiss'), Type.Literal('keep')])),
  stabilize_max_processes: Type.Optional(Type.Integer({ minimum: 8 })),
  stabilize_parallelism: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  stabilize_dependency_dirs: Type.Optional(
    Type.Union([
      Type.Array(Type.String({ maxLength: 200 }), { maxItems: 50 }),
      Type.String({ maxLength: 10_000 }),
    ]),
  ),
  stabilize_setup_command: Type.Optional(Nullable(Type.String({ maxLength: 4000 }))),
  stabilize_setup_network: Type.Optional(Type.Boolean()),
  offline_merges: Type.Optional(Type.Union([Type.Literal('refuse'), Type.Literal('allow')])),
  github_full_name: Type.Optional(
    Nullable(
      Type.String({
        minLength: 3,
        maxLength: 140,
        description:
          'Link to a GitHub repository (owner/name): its pull requests and reviews feed this one (docs/github.md)',
      }),
    ),
  ),
};

const CreateRepoBody = Closed({
  name: Type.String({ minLength: 1, maxLength: 255 }),
  server_git: Type.Optional(
    Type.Boolean({
      description:
        'Mode C: the server holds the git (clones clone_url, or creates a repository with one empty commit on main)',
    }),
  ),
  clone_url: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 2000,
      description:
        'With server_git: an http(s) URL to clone (a local path only with serve --allow-local-clone)',
    }),
  ),
  default_branch: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description:
        'With server_git: the branch to build on and promote to (default: the clone’s HEAD, or main)',
    }),
  ),
  remote_url: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 2000,
      description: 'With server_git: push the buffer and main there after every merge, revert and promotion',
    }),
  ),
  ...RepoSettingsProperties,
});

const UpdateRepoBody = Closed({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  ...RepoSettingsProperties,
});

const MemberParams = Closed({ id: Id, agentId: Id });

const MaintainerView = Closed({
  agent_id: Type.String(),
  agent_name: Type.String(),
  role: Type.String(),
  created_at: Timestamp,
});

const AccessGrantView = Closed({
  agent_id: Type.String(),
  agent_name: Type.String(),
  access_level: Type.String(),
  granted_by: Nullable(Type.String()),
  expires_at: Nullable(Timestamp),
  created_at: Timestamp,
});

const BranchRuleFields = {
  direct_push: Type.Optional(
    Type.Union([Type.Literal('none'), Type.Literal('maintainers'), Type.Literal('all')]),
  ),
  required_approvals: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  require_tests_pass: Type.Optional(Type.Boolean()),
  consensus_threshold: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 1 }))),
  merge_restriction: Type.Optional(Nullable(Type.Literal('maintainers_only'))),
  priority: Type.Optional(Type.Integer({ minimum: -1_000_000, maximum: 1_000_000 })),
};
const BranchPattern = Type.String({
  minLength: 1,
  maxLength: 255,
  description: '"*" = within a segment, "**" = across',
});

const BranchRuleView = Closed({
  id: Type.String(),
  repo_id: Type.String(),
  branch_pattern: Type.String(),
  direct_push: Type.String(),
  required_approvals: Type.Integer(),
  require_tests_pass: Type.Boolean(),
  consensus_threshold: Nullable(Type.Number()),
  merge_restriction: Nullable(Type.String()),
  priority: Type.Integer(),
  created_at: Timestamp,
});

const RuleParams = Closed({ id: Id, ruleId: Id });

function withoutUndefined(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
}

/** /repos, /repos/:id, maintainers and access grants. */
export async function repoRoutes(app: App): Promise<void> {
  const deps = app.deps;

  app.post(
    '/repos',
    {
      schema: {
        summary: 'Create a repository (the caller becomes its owner)',
        description:
          'Without server_git: a Mode B repository (the server holds no clone; agents push from theirs). ' +
          'With server_git: true: Mode C (docs/mode-c.md): the server clones clone_url or creates a ' +
          'repository with one empty commit on main, creates the buffer branch, and from then on holds ' +
          'the git. A clone that fails leaves nothing behind (400).',
        tags: ['repos'],
        body: CreateRepoBody,
        response: { 201: Closed({ repo: RepoView }), ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => {
      const { name, server_git, clone_url, default_branch, remote_url, ...settings } = request.body;
      const owner = actingAgent(request);
      let repo: Repo;
      if (server_git) {
        repo = await createServerRepo(deps, app.hosting, {
          name,
          owner,
          settings: withoutUndefined(settings),
          ...(clone_url !== undefined ? { cloneUrl: clone_url } : {}),
          ...(default_branch !== undefined ? { defaultBranch: default_branch } : {}),
          ...(remote_url !== undefined ? { remoteUrl: remote_url } : {}),
        });
      } else {
        if (clone_url !== undefined || default_branch !== undefined || remote_url !== undefined) {
          throw new GitSwarmError(
            'invalid_input',
            'clone_url, default_branch and remote_url go with server_git: true.',
            {
              hint: 'Add "server_git": true to have the server hold the repository (Mode C).',
            },
          );
        }
        repo = await createRepo(deps, { name, settings: withoutUndefined(settings), owner });
      }
      reply.code(201);
      return { repo: repoView(repo) };
    },
  );

  app.get(
    '/repos',
    {
      schema: {
        summary: 'List the repositories the caller can read',
        tags: ['repos'],
        response: { 200: Closed({ repos: Type.Array(RepoView) }) },
      },
    },
    async (request) => {
      const repos = [];
      for (const repo of await listRepos(deps.store.db)) {
        if (await canRead(deps, request.agent, repo)) repos.push(repoView(repo));
      }
      return { repos };
    },
  );

  app.get(
    '/repos/:id',
    {
      schema: {
        summary: 'Get a repository: settings, buffer configuration and stage',
        tags: ['repos'],
        params: IdParams,
        response: { 200: Closed({ repo: RepoView }), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => ({ repo: repoView(await readableRepo(deps, request, request.params.id)) }),
  );

  app.patch(
    '/repos/:id',
    {
      schema: {
        summary: 'Change repository settings (admin)',
        tags: ['repos'],
        params: IdParams,
        body: UpdateRepoBody,
        response: { 200: Closed({ repo: RepoView }), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const found = await getRepo(deps.store.db, request.params.id);
      const repo = await lockedTransaction(deps.store, found.id, async (trx) =>
        updateRepoSettings(deps, trx, {
          repo: await getRepo(trx, found.id),
          actor,
          changes: withoutUndefined(request.body),
        }),
      );
      return { repo: repoView(repo) };
    },
  );

  app.delete(
    '/repos/:id',
    {
      schema: {
        summary: 'Archive a repository (admin)',
        tags: ['repos'],
        params: IdParams,
        response: { 200: Closed({ repo: RepoView }), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const found = await getRepo(deps.store.db, request.params.id);
      return {
        repo: await lockedTransaction(deps.store, found.id, (trx) =>
          archiveRepo(deps, trx, { repo: found, actor }),
        ),
      };
    },
  );

  app.get(
    '/repos/:id/branch-rules',
    {
      schema: {
        summary: 'List branch rules, highest priority first',
        tags: ['repos'],
        params: IdParams,
        response: { 200: Closed({ rules: Type.Array(BranchRuleView) }), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      return { rules: await listBranchRules(deps.store.db, repo.id) };
    },
  );

  app.post(
    '/repos/:id/branch-rules',
    {
      schema: {
        summary: 'Create a branch rule (admin)',
        tags: ['repos'],
        params: IdParams,
        body: Closed({ branch_pattern: BranchPattern, ...BranchRuleFields }),
        response: { 201: Closed({ rule: BranchRuleView }), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const rule = await lockedTransaction(deps.store, repo.id, (trx) =>
        createBranchRule(deps, trx, { repo, actor, fields: request.body }),
      );
      reply.code(201);
      return { rule };
    },
  );

  app.patch(
    '/repos/:id/branch-rules/:ruleId',
    {
      schema: {
        summary: 'Change a branch rule (admin)',
        tags: ['repos'],
        params: RuleParams,
        body: Closed({ branch_pattern: Type.Optional(BranchPattern), ...BranchRuleFields }),
        response: { 200: Closed({ rule: BranchRuleView }), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const rule = await lockedTransaction(deps.store, repo.id, (trx) =>
        updateBranchRule(deps, trx, { repo, actor, ruleId: request.params.ruleId, fields: request.body }),
      );
      return { rule };
    },
  );

  app.delete(
    '/repos/:id/branch-rules/:ruleId',
    {
      schema: {
        summary: 'Delete a branch rule (admin)',
        tags: ['repos'],
        params: RuleParams,
        response: { 200: OkResponse, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      await lockedTransaction(deps.store, repo.id, (trx) =>
        deleteBranchRule(deps, trx, { repo, actor, ruleId: request.params.ruleId }),
      );
      return { ok: true as const };
    },
  );

  app.get(
    '/repos/:id/maintainers',
    {
      schema: {
        summary: 'List maintainers',
        tags: ['repos'],
        params: IdParams,
        response: { 200: Closed({ maintainers: Type.Array(MaintainerView) }), ...errorResponses(404) },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      return { maintainers: await listMaintainers(deps.store.db, repo.id) };
    },
  );

  app.post(
    '/repos/:id/maintainers',
    {
      schema: {
        summary: 'Add a maintainer (admin)',
        tags: ['repos'],
        params: IdParams,
        body: Closed({
          agent_id: Type.String({ minLength: 1, maxLength: 100, description: 'Agent id or name' }),
        }),
        response: {
          201: Closed({ maintainers: Type.Array(MaintainerView) }),
          ...errorResponses(400, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const agent = await getAgent(deps.store.db, request.body.agent_id);
      await lockedTransaction(deps.store, repo.id, (trx) => addMaintainer(deps, trx, { repo, actor, agent }));
      reply.code(201);
      return { maintainers: await listMaintainers(deps.store.db, repo.id) };
    },
  );

  app.delete(
    '/repos/:id/maintainers/:agentId',
    {
      schema: {
        summary: 'Remove a maintainer (admin)',
        tags: ['repos'],
        params: MemberParams,
        response: { 200: OkResponse, ...errorResponses(403, 404) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const agent = await getAgent(deps.store.db, request.params.agentId);
      await lockedTransaction(deps.store, repo.id, (trx) =>
        removeMaintainer(deps, trx, { repo, actor, agent }),
      );
      return { ok: true as const };
    },
  );

  app.get(
    '/repos/:id/access',
    {
      schema: {
        summary: 'List explicit access grants',
        tags: ['repos'],
        params: IdParams,
        response: { 200: Closed({ grants: Type.Array(AccessGrantView) }), ...errorResponses(404) },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      return { grants: await listAccessGrants(deps.store.db, repo.id) };
    },
  );

  app.post(
    '/repos/:id/access',
    {
      schema: {
        summary: 'Grant an agent access (admin)',
        tags: ['repos'],
        params: IdParams,
        body: Closed({
          agent_id: Type.String({ minLength: 1, maxLength: 100, description: 'Agent id or name' }),
          access_level: Type.Union([
            Type.Literal('read'),
            Type.Literal('write'),
            Type.Literal('maintain'),
            Type.Literal('admin'),
          ]),
          expires_at: Type.Optional(Type.String({ format: 'date-time', maxLength: 40 })),
        }),
        response: { 201: Closed({ grants: Type.Array(AccessGrantView) }), ...errorResponses(400, 403, 404) },
      },
    },
    async (request, reply) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const agent = await getAgent(deps.store.db, request.body.agent_id);
      const expiresAt = request.body.expires_at ? new Date(request.body.expires_at).toISOString() : undefined;
      await lockedTransaction(deps.store, repo.id, (trx) =>
        grantAccess(deps, trx, { repo, actor, agent, level: request.body.access_level, expiresAt }),
      );
      reply.code(201);
      return { grants: await listAccessGrants(deps.store.db, repo.id) };
    },
  );

  app.get(
    '/repos/:id/access/:agentId',
    {
      schema: {
        summary: "An agent's access level in the repository and where it comes from",
        description:
          'The level the rules give the agent (owner, maintainer, explicit grant, the ownership model, karma): what `gitswarm agent show` prints.',
        tags: ['repos'],
        params: MemberParams,
        response: {
          200: Closed({ agent_id: Type.String(), access: Type.String(), access_source: Type.String() }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      const agent = await getAgent(deps.store.db, request.params.agentId);
      const access = await resolveAccess(deps, deps.store.db, repo, agent);
      return { agent_id: agent.id, access: access.level, access_source: access.source };
    },
  );

  app.delete(
    '/repos/:id/access/:agentId',
    {
      schema: {
        summary: "Revoke an agent's explicit grant (admin)",
        tags: ['repos'],
        params: MemberParams,
        response: { 200: OkResponse, ...errorResponses(403, 404) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const agent = await getAgent(deps.store.db, request.params.agentId);
      await lockedTransaction(deps.store, repo.id, (trx) => revokeAccess(deps, trx, { repo, actor, agent }));
      return { ok: true as const };
    },
  );
}
