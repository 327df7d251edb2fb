import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listActivity } from '../../../src/core/activity/activity.js';
import {
  commitWorkspace,
  createWorkspace,
  destroyWorkspace,
  findWorkspace,
  listWorkspaces,
} from '../../../src/core/federation.js';
import { getStream } from '../../../src/core/streams/streams.js';
import { agentNameFromPath } from '../../../src/core/streams/workspace-paths.js';
import { createTask } from '../../../src/core/tasks/tasks.js';
import { useGitStore, worktreeStatus, writeFiles } from '../../helpers/federation-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import { seedAgent } from '../../helpers/streams-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: workspaces`, () => {
    const fx = useGitStore(dialect);

    const setUp = (settings: Record<string, unknown> = {}) => fx.seedWithCoder(settings);

    it('creates a stream on the buffer head with a worktree at .worktrees/<agent>/', async () => {
      const { deps, repo, git, coder } = await setUp();
      const bufferHead = await git.rev('buffer');
      const { stream, worktree } = await createWorkspace(deps, { repo, agent: coder });
      expect(stream.id).toMatch(/^[0-9a-f]{12}$/);
      expect(stream).toMatchObject({
        branch: `stream/${stream.id}`,
        base_branch: 'buffer',
        base_commit: bufferHead,
        parent_stream_id: null,
        status: 'active',
        agent_id: coder.id,
      });
      expect(stream.name).toMatch(new RegExp(`^${coder.name}-[0-9a-f]{6}$`));
      expect(worktree).toBe(join(git.dir, '.worktrees', coder.name));
      expect(await git.run(['rev-parse', '--abbrev-ref', 'HEAD'], worktree)).toBe(stream.branch);
      expect(await git.rev(stream.branch)).toBe(bufferHead);
      expect(await findWorkspace(fx.store.db, repo.id, coder.id)).toMatchObject({
        stream_id: stream.id,
        path: worktree,
      });
      expect(agentNameFromPath(repo, join(worktree, 'src'))).toBe(coder.name);
      // The main worktree does not see the agents' worktrees.
      expect(await worktreeStatus(git, git.dir)).toBe('');
      const ops = await fx.store.db
        .selectFrom('gitswarm_operations')
        .selectAll()
        .where('repo_id', '=', repo.id)
        .execute();
      expect(ops.map((o) => [o.kind, o.status])).toEqual([['stream_create', 'done']]);
      const events = await listActivity(fx.store.db, { repoId: repo.id, eventTypes: ['stream.created'] });
      expect(events[0]?.metadata).toMatchObject({ branch: stream.branch, base_commit: bufferHead });
      const listed = await listWorkspaces(fx.store.db, repo.id);
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({
        agent_name: coder.name,
        stream_name: stream.name,
        stream_status: 'active',
      });
    });

    it('allows one workspace per agent and refuses bad or taken names', async () => {
      const { deps, repo, coder } = await setUp();
      const first = await createWorkspace(deps, { repo, agent: coder, name: 'feature-x' });
      const again = createWorkspace(deps, { repo, agent: coder });
      await expect(again).rejects.toMatchObject({ code: 'invalid_state' });
      await expect(again).rejects.toHaveProperty(
        'hint',
        `Destroy it first: gitswarm workspace destroy --as ${coder.name}`,
      );
      const other = await seedAgent(deps, 'other');
      await expect(createWorkspace(deps, { repo, agent: other, name: 'feature-x' })).rejects.toMatchObject({
        code: 'already_exists',
      });
      await expect(
        createWorkspace(deps, { repo, agent: other, name: '--upload-pack=x' }),
      ).rejects.toMatchObject({
        code: 'invalid_name',
      });
      await expect(createWorkspace(deps, { repo, agent: other, name: 'a/../b' })).rejects.toMatchObject({
        code: 'invalid_name',
      });
      // Nothing was left behind by the refusals.
      const streams = await fx.store.db
        .selectFrom('gitswarm_streams')
        .select('id')
        .where('repo_id', '=', repo.id)
        .execute();
      expect(streams.map((s) => s.id)).toEqual([first.stream.id]);
      expect(existsSync(join(repo.path as string, '.worktrees', other.name))).toBe(false);
    });

    it('needs write access', async () => {
      const { deps, repo } = await setUp({ agent_access: 'allowlist' });
      const reader = await seedAgent(deps, 'reader');
      await expect(createWorkspace(deps, { repo, agent: reader })).rejects.toMatchObject({
        code: 'forbidden',
      });
    });

    it('commits everything in the worktree as the agent, with a Change-Id, and refuses a clean tree', async () => {
      const { deps, repo, git, coder } = await setUp();
      const { stream, worktree } = await createWorkspace(deps, { repo, agent: coder });
      await expect(commitWorkspace(deps, { repo, agent: coder, message: 'Nothing' })).rejects.toMatchObject({
        code: 'nothing_to_commit',
      });
      writeFiles(worktree, { 'cache.js': 'export const cache = new Map();\n', 'docs/cache.md': '# Cache\n' });
      const result = await commitWorkspace(deps, { repo, agent: coder, message: 'Add caching layer' });
      expect(result).toMatchObject({ stream_id: stream.id, merged: false });
      expect(result.change_id).toMatch(/^I[0-9a-f]{40}$/);
      expect(await git.rev(stream.branch)).toBe(result.commit);
      expect(await git.run(['log', '-1', '--format=%an <%ae>', result.commit])).toBe(
        `${coder.name} <${coder.name}@agents.gitswarm.invalid>`,
      );
      expect(await git.run(['log', '-1', '--format=%B', result.commit])).toContain(
        `Change-Id: ${result.change_id}`,
      );
      expect(await worktreeStatus(git, worktree)).toBe('');
      const rows = await fx.store.db
        .selectFrom('gitswarm_stream_commits')
        .selectAll()
        .where('stream_id', '=', stream.id)
        .execute();
      expect(rows).toMatchObject([
        {
          commit_hash: result.commit,
          change_id: result.change_id,
          agent_id: coder.id,
          message: 'Add caching layer',
        },
      ]);
      await expect(commitWorkspace(deps, { repo, agent: coder, message: '   ' })).rejects.toMatchObject({
        code: 'invalid_input',
      });
      const stranger = await seedAgent(deps, 'stranger');
      await expect(commitWorkspace(deps, { repo, agent: stranger, message: 'x' })).rejects.toMatchObject({
        code: 'invalid_state',
        hint: `Create one with: gitswarm workspace create --as ${stranger.name}`,
      });
    });

    it('destroys a workspace: refuses uncommitted work unless abandoning, keeps the branch', async () => {
      const { deps, repo, git, coder } = await setUp();
      const { stream, worktree } = await createWorkspace(deps, { repo, agent: coder });
      writeFiles(worktree, { 'wip.txt': 'half done\n' });
      await expect(destroyWorkspace(deps, { repo, agent: coder })).rejects.toMatchObject({
        code: 'worktree_dirty',
      });
      expect(existsSync(worktree)).toBe(true);
      const destroyed = await destroyWorkspace(deps, { repo, agent: coder, abandon: true });
      expect(destroyed).toEqual({ stream_id: stream.id, worktree, abandoned: true });
      expect(existsSync(worktree)).toBe(false);
      expect(await findWorkspace(fx.store.db, repo.id, coder.id)).toBeUndefined();
      expect((await getStream(fx.store.db, repo.id, stream.id)).status).toBe('abandoned');
      expect(await git.rev(stream.branch)).toBe(await git.rev('buffer'));
      // The agent can start again; the old name is free once its stream is abandoned.
      const again = await createWorkspace(deps, { repo, agent: coder, name: stream.name });
      expect(again.worktree).toBe(worktree);
      await destroyWorkspace(deps, { repo, agent: coder });
      expect((await getStream(fx.store.db, repo.id, again.stream.id)).status).toBe('active');
    });

    it('links the claim of a task given with --task', async () => {
      const { deps, seeded, repo, git, coder } = await setUp();
      const task = await createTask(deps, fx.store.db, {
        repo,
        actor: seeded.owner,
        title: 'Implement caching layer',
      });
      const { stream } = await createWorkspace(deps, { repo, agent: coder, taskRef: String(task.number) });
      expect(stream.task_id).toBe(task.id);
      const claims = await fx.store.db
        .selectFrom('gitswarm_task_claims')
        .selectAll()
        .where('task_id', '=', task.id)
        .execute();
      expect(claims).toMatchObject([{ agent_id: coder.id, stream_id: stream.id, status: 'active' }]);
      const other = await seedAgent(deps, 'other');
      await expect(createWorkspace(deps, { repo, agent: other, taskRef: '999' })).rejects.toMatchObject({
        code: 'task_not_found',
      });
      // The failed creation left no branch, worktree or row behind.
      expect(existsSync(join(repo.path as string, '.worktrees', other.name))).toBe(false);
      expect(await findWorkspace(fx.store.db, repo.id, other.id)).toBeUndefined();
      expect(await git.run(['for-each-ref', '--format=%(refname)', 'refs/heads/stream/'])).toBe(
        `refs/heads/${stream.branch}`,
      );
    });
  });
}
