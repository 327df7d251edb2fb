/**
 * The Mode A commands in-process on both dialects: what the user sees (exit code, `--json`
 * document, text) for init, agent, config, maintainer, access, workspace, diff, status and activity.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBufferedIO } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { type CliRun, createTestRepo, type TestRepo } from './helpers.js';
import { storeEnv } from './in-process.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: gitswarm commands`, () => {
    let repo: TestRepo;

    beforeAll(async () => {
      repo = createTestRepo({ env: await storeEnv(dialect), inProcess: true });
    });
    afterAll(() => repo.close());

    async function ok<T = Record<string, unknown>>(args: string[], cwd?: string): Promise<T> {
      const run = await repo.run([...args, '--json'], { cwd });
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
      return run.json<T>();
    }

    async function text(args: string[], cwd?: string): Promise<string> {
      const run = await repo.run(args, { cwd });
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
      return run.stdout;
    }

    async function refused(args: string[], code: number, errorCode: string): Promise<CliRun> {
      const run = await repo.run([...args, '--json']);
      expect({ args, code: run.code }).toEqual({ args, code });
      expect(run.json<{ error: { code: string } }>().error.code).toBe(errorCode);
      return run;
    }

    it('init sets up .gitswarm, the buffer and the excludes; a second run changes nothing', async () => {
      const first = await ok<{ created: boolean; repo: Record<string, unknown> }>([
        'init',
        '--name',
        'demo',
        '--model',
        'guild',
        '--threshold',
        '0.5',
        '--min-reviews',
        '1',
        '--stabilize-cmd',
        'npm test',
      ]);
      expect(first.created).toBe(true);
      expect(first.repo).toMatchObject({
        name: 'demo',
        path: repo.dir,
        merge_mode: 'review',
        ownership_model: 'guild',
        buffer_branch: 'buffer',
        promote_target: 'main',
        consensus_threshold: 0.5,
        stabilize_command: 'npm test',
      });
      const config = JSON.parse(readFileSync(join(repo.dir, '.gitswarm', 'config.json'), 'utf8'));
      expect(config.repo_id).toBe(first.repo.id);
      expect(readFileSync(join(repo.dir, '.git', 'info', 'exclude'), 'utf8')).toMatch(/^\/\.gitswarm\/$/m);
      expect(readFileSync(join(repo.dir, '.git', 'info', 'exclude'), 'utf8')).toMatch(/^\/\.worktrees\/$/m);
      expect(repo.git(['status', '--porcelain'])).toBe('');

      const refs = repo.gitState();
      const second = await repo.run(['init', '--mode', 'swarm']);
      expect(second.code).toBe(0);
      expect(second.stdout).toContain('already initialized');
      expect(second.stdout).toContain('nothing changed');
      expect(repo.gitState()).toBe(refs);
      const again = await ok<{ created: boolean; repo: { id: string; merge_mode: string } }>(['init']);
      expect(again).toMatchObject({ created: false, repo: { id: first.repo.id, merge_mode: 'review' } });
      expect(
        readFileSync(join(repo.dir, '.git', 'info', 'exclude'), 'utf8').match(/^\/\.gitswarm\/$/gm),
      ).toHaveLength(1);
    });

    it('agent register makes the first agent the owner; list and show', async () => {
      const owner = await ok<{ agent: { id: string; name: string; role: string } }>([
        'agent',
        'register',
        'owner',
        '--desc',
        'runs the show',
      ]);
      expect(owner.agent).toMatchObject({ name: 'owner', role: 'owner' });
      for (const name of ['alice', 'bob']) await ok(['agent', 'register', name]);
      const list = await ok<{ agents: { name: string; role: string | null }[] }>(['agent', 'list']);
      expect(list.agents.map((a) => [a.name, a.role])).toEqual([
        ['owner', 'owner'],
        ['alice', null],
        ['bob', null],
      ]);
      expect(await text(['agent', 'list'])).toMatch(
        /^NAME\s+ROLE\s+KARMA\s+DESCRIPTION\nowner\s+owner\s+0\s+runs the show\n/,
      );
      const shown = await ok<{ agent: { access: string; access_source: string } }>([
        'agent',
        'show',
        owner.agent.id,
      ]);
      expect(shown.agent).toMatchObject({ access: 'admin', access_source: 'owner' });
      await refused(['agent', 'register', 'alice'], 1, 'already_exists');
    });

    it('config lists, reads and sets settings (admin only)', async () => {
      const all = await ok<{ settings: Record<string, unknown> }>(['config']);
      expect(all.settings).toMatchObject({ merge_mode: 'review', ownership_model: 'guild', min_reviews: 1 });
      expect(await text(['config', 'consensus_threshold'])).toBe('0.5\n');
      await refused(['config', 'min_reviews', '2'], 2, 'agent_required');
      await refused(['config', 'min_reviews', '2', '--as', 'alice'], 1, 'forbidden');
      await refused(['config', 'min_reviews', 'two', '--as', 'owner'], 2, 'invalid_input');
      const set = await ok<{ key: string; value: unknown; previous: unknown; changed: boolean }>([
        'config',
        'min_reviews',
        '2',
        '--as',
        'owner',
      ]);
      expect(set).toEqual({ key: 'min_reviews', value: 2, previous: 1, changed: true });
      expect(await text(['config', 'min_reviews', '1', '--as', 'owner'])).toBe(
        'Set min_reviews to 1 (was 2).\n',
      );
      const env = await repo.run(['config', 'min_reviews', '1'], { env: { GITSWARM_AGENT: 'owner' } });
      expect(env.stdout).toBe('min_reviews is already 1; nothing changed.\n');
    });

    it('maintainer add, list and remove', async () => {
      await refused(['maintainer', 'add', 'bob', '--as', 'alice'], 1, 'forbidden');
      expect(await text(['maintainer', 'add', 'bob', '--as', 'owner'])).toBe('bob is now a maintainer.\n');
      await refused(['maintainer', 'add', 'bob', '--as', 'owner'], 1, 'already_exists');
      const list = await ok<{ maintainers: { agent_name: string; role: string }[] }>(['maintainer', 'list']);
      expect(list.maintainers.map((m) => [m.agent_name, m.role])).toEqual([
        ['owner', 'owner'],
        ['bob', 'maintainer'],
      ]);
      await refused(['maintainer', 'remove', 'owner', '--as', 'owner'], 1, 'forbidden');
      await ok(['maintainer', 'remove', 'bob', '--as', 'owner']);
      await refused(['maintainer', 'remove', 'bob', '--as', 'owner'], 3, 'not_found');
    });

    it('access grant, list and revoke', async () => {
      await refused(['access', 'grant', 'alice', 'root', '--as', 'owner'], 2, 'invalid_input');
      expect(await text(['access', 'grant', 'alice', 'maintain', '--as', 'owner'])).toBe(
        'Granted maintain access to alice.\n',
      );
      const list = await ok<{ grants: { agent_name: string; access_level: string }[] }>(['access', 'list']);
      expect(list.grants.map((g) => [g.agent_name, g.access_level])).toEqual([['alice', 'maintain']]);
      const shown = await ok<{ agent: { access: string; access_source: string } }>([
        'agent',
        'show',
        'alice',
      ]);
      expect(shown.agent).toMatchObject({ access: 'maintain', access_source: 'grant' });
      await ok(['access', 'revoke', 'alice', '--as', 'owner']);
      expect(await text(['access', 'list'])).toBe('No explicit access grants.\n');
      await refused(['access', 'revoke', 'alice', '--as', 'owner'], 3, 'not_found');
    });

    it('workspace create, list, diff and destroy; the worktree owner is the default agent', async () => {
      const created = await ok<{ stream: { id: string; branch: string }; worktree: string }>([
        'workspace',
        'create',
        '--as',
        'alice',
        '--name',
        'notes',
      ]);
      await refused(['workspace', 'create', '--as', 'alice'], 1, 'invalid_state');
      repo.write('notes.md', 'first note\n', created.worktree);
      repo.write('deep/dir/file.txt', 'x\n', created.worktree);
      // Inside the worktree, without --as: alice commits.
      const commit = await ok<{ stream_id: string }>(
        ['commit', '-m', 'Add notes'],
        join(created.worktree, 'deep'),
      );
      expect(commit.stream_id).toBe(created.stream.id);
      expect(repo.git(['log', '-1', '--format=%an', created.stream.branch])).toBe('alice');

      const diff = await ok<{ files: string[]; diff: string; base: string }>(['diff', 'notes']);
      expect(diff.files).toEqual(['deep/dir/file.txt', 'notes.md']);
      expect(diff.diff).toContain('+first note');
      expect(await text(['diff', created.stream.branch, '--stat'])).toMatch(/2 files changed, 2 insertions/);

      const list = await ok<{ workspaces: { agent_name: string; stream_id: string; worktree: string }[] }>([
        'workspace',
        'list',
      ]);
      expect(list.workspaces).toEqual([
        expect.objectContaining({
          agent_name: 'alice',
          stream_id: created.stream.id,
          worktree: created.worktree,
        }),
      ]);
      const status = await ok<{ streams: { id: string; status: string; agent: string }[] }>(['status']);
      expect(status.streams).toEqual([
        expect.objectContaining({ id: created.stream.id, status: 'active', agent: 'alice' }),
      ]);
      expect(await text(['status'])).toMatch(/^ID\s+NAME\s+AGENT\s+STATUS\s+REVIEW$/m);

      repo.write('draft.md', 'unsaved\n', created.worktree);
      await refused(['workspace', 'destroy', '--as', 'alice'], 1, 'worktree_dirty');
      const destroyed = await ok<{ abandoned: boolean; worktree: string }>([
        'workspace',
        'destroy',
        '--as',
        'alice',
        '--abandon',
      ]);
      expect(destroyed).toMatchObject({ abandoned: true, worktree: created.worktree });
      expect(existsSync(created.worktree)).toBe(false);
      expect(await text(['workspace', 'list'])).toBe(
        'No workspaces. Create one with: gitswarm workspace create --as AGENT\n',
      );
    });

    it('activity lists the newest entries oldest first, honours --limit, validates it', async () => {
      const all = await ok<{ activity: { event_type: string; agent_name: string | null }[] }>([
        'activity',
        '--limit',
        '1000',
      ]);
      expect(all.activity[0]?.event_type).toBe('repo.initialized');
      expect(all.activity.map((e) => e.event_type)).toContain('stream.abandoned');
      const two = await ok<{ activity: unknown[] }>(['activity', '--limit', '2']);
      expect(two.activity).toEqual(all.activity.slice(-2));
      await refused(['activity', '--limit', '0'], 2, 'invalid_input');
    });

    it('activity --follow prints new entries until interrupted', async () => {
      const controller = new AbortController();
      const io = createBufferedIO({ cwd: repo.dir, env: repo.env, signal: controller.signal });
      const following = runCli(['activity', '--follow', '--limit', '1'], io);
      const waitFor = async (done: () => boolean) => {
        for (let i = 0; i < 400 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
        if (!done()) throw new Error('activity --follow printed nothing new within 10 s');
      };
      await waitFor(() => io.out.length > 0);
      await ok(['agent', 'register', 'carol']);
      await waitFor(() => io.out.join('').includes('name=carol'));
      controller.abort();
      expect(await following).toBe(0);
      const lines = io.out.join('').trimEnd().split('\n');
      // The newest entry first, then what came after it (entries sharing its timestamp included).
      expect(new Set(lines).size).toBe(lines.length);
      expect(lines.at(-1)).toMatch(/carol\s+agent\.registered\s+agent \S+\s+name=carol/);
      expect(lines.filter((line) => line.includes('name=carol'))).toHaveLength(1);
    });
  });
}
