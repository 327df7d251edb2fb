/**
 * Access rules the other access tests leave loose, each pinned where a deliberate bug (a mutant)
 * would change the answer: the level each action needs at its boundary, a grant at the instant it
 * expires, a repository without karma rows, the refusal's details, re-granting and revoking, and
 * the activity both leave.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listActivity } from '../../src/core/activity/activity.js';
import {
  accessRank,
  conflictTaskId,
  getRepoForAction,
  getStreamForAction,
  grantAccess,
  isAccessLevel,
  listAccessGrants,
  requireAction,
  requireStreamWrite,
  resolveAccess,
  revokeAccess,
} from '../../src/core/governance/access.js';
import { claimTask } from '../../src/core/tasks/task-claims.js';
import { createTask } from '../../src/core/tasks/tasks.js';
import type { GitSwarmError } from '../../src/errors.js';
import { newId } from '../../src/util/ids.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';
import { insertStream, seedAgent, seedRepo, testDeps } from '../helpers/streams-fixture.js';

async function caught(promise: Promise<unknown>): Promise<GitSwarmError> {
  try {
    await promise;
  } catch (error) {
    return error as GitSwarmError;
  }
  throw new Error('expected a refusal');
}

describe('conflict task of a stream', () => {
  it('is the string in metadata.conflict_task_id, and nothing else', () => {
    expect(conflictTaskId({ metadata: { conflict_task_id: 't-1' } })).toBe('t-1');
    expect(conflictTaskId({ metadata: { conflict_task_id: 7 } })).toBeNull();
    expect(conflictTaskId({ metadata: {} })).toBeNull();
  });
});

describe('access levels', () => {
  it('ranks none < read < write < maintain < admin; "none" is not a level one can grant', () => {
    expect(['none', 'read', 'write', 'maintain', 'admin'].map((l) => accessRank(l as 'none'))).toEqual([
      0, 1, 2, 3, 4,
    ]);
    for (const level of ['read', 'write', 'maintain', 'admin']) expect(isAccessLevel(level)).toBe(true);
    expect(isAccessLevel('none')).toBe(false);
    expect(isAccessLevel('owner')).toBe(false);
    expect(isAccessLevel('')).toBe(false);
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: access rules at their edges`, () => {
    let store: TestStore;
    let deps: ReturnType<typeof testDeps>;
    beforeAll(async () => {
      store = await openTestStore(dialect);
      deps = testDeps(store);
    });
    afterAll(async () => {
      await store.close();
    });

    it('a stream read afresh with its access: refused beyond what the agent may do, missing named', async () => {
      const { repo, owner } = await seedRepo(deps, { agent_access: 'allowlist' });
      const reader = await seedAgent(deps, 'fresh-reader');
      const outsider = await seedAgent(deps, 'fresh-outsider');
      await grantAccess(deps, store.db, { repo, actor: owner, agent: reader, level: 'read' });
      const stream = await insertStream(deps, repo, owner);
      const read = await getStreamForAction(deps, store.db, repo, stream.id, reader, 'read');
      expect(read.stream).toMatchObject({ id: stream.id, agent_id: owner.id, status: stream.status });
      expect(read.access).toMatchObject({ level: 'read', source: 'grant' });
      const refused = await caught(getStreamForAction(deps, store.db, repo, stream.id, outsider, 'write'));
      expect(refused.code).toBe('forbidden');
      const tooLow = await caught(getStreamForAction(deps, store.db, repo, stream.id, reader, 'write'));
      expect(tooLow.code).toBe('forbidden');
      const missing = await caught(
        getStreamForAction(deps, store.db, repo, 'no-such-stream', reader, 'read'),
      );
      expect(missing).toMatchObject({ code: 'stream_not_found', message: 'No stream no-such-stream' });
    });

    it('writes a stream: its author with write, maintain+, or the active claimant of its conflict task', async () => {
      const { repo, owner } = await seedRepo(deps, { agent_access: 'allowlist' });
      const author = await seedAgent(deps, 'author');
      const maintainer = await seedAgent(deps, 'maint');
      const writer = await seedAgent(deps, 'writer');
      const reader = await seedAgent(deps, 'reader');
      const outsider = await seedAgent(deps, 'outsider');
      for (const [agent, level] of [
        [author, 'write'],
        [maintainer, 'maintain'],
        [writer, 'write'],
        [reader, 'read'],
      ] as const) {
        await grantAccess(deps, store.db, { repo, actor: owner, agent, level });
      }
      const stream = { id: 'stream-1', agent_id: author.id, metadata: {} };
      expect(await requireStreamWrite(deps, store.db, repo, stream, author)).toEqual({
        level: 'write',
        source: 'grant',
      });
      expect((await requireStreamWrite(deps, store.db, repo, stream, maintainer)).level).toBe('maintain');
      expect((await requireStreamWrite(deps, store.db, repo, stream, owner)).level).toBe('admin');
      const refused = await caught(requireStreamWrite(deps, store.db, repo, stream, writer));
      expect(refused.code).toBe('forbidden');
      expect(refused.message).toBe(
        `Only the stream's author, an agent with maintain access changes stream stream-1; ${writer.name} has write access.`,
      );
      expect(refused.hint).toBe(
        'Work in a stream of your own (POST /api/v1/repos/:id/streams), or ask its author.',
      );
      expect(refused.details).toEqual({ required: 'maintain', actual: 'write', stream_id: 'stream-1' });
      expect(
        (await caught(requireStreamWrite(deps, store.db, repo, stream, outsider))).details,
      ).toMatchObject({
        actual: 'read',
      });
      // An author who may only read does not write their own stream.
      const readersStream = { ...stream, agent_id: reader.id };
      expect((await caught(requireStreamWrite(deps, store.db, repo, readersStream, reader))).code).toBe(
        'forbidden',
      );

      // A conflict task: its active claimant with write access may, nobody else.
      const task = await createTask(deps, store.db, {
        repo,
        actor: maintainer,
        title: 'Resolve the conflict',
      });
      const withTask = { ...stream, metadata: { conflict_task_id: task.id } };
      const beforeClaim = await caught(requireStreamWrite(deps, store.db, repo, withTask, writer));
      expect(beforeClaim.message).toBe(
        `Only the stream's author, an agent with maintain access or the claimant of its conflict task changes stream stream-1; ${writer.name} has write access.`,
      );
      expect(beforeClaim.hint).toBe(`Claim its conflict task first: POST /api/v1/tasks/${task.id}/claim`);
      expect(beforeClaim.details).toEqual({
        required: 'maintain',
        actual: 'write',
        stream_id: 'stream-1',
        conflict_task_id: task.id,
      });
      const claim = await claimTask(deps, store.db, { repo, agent: writer, taskRef: task.id });
      expect((await requireStreamWrite(deps, store.db, repo, withTask, writer)).level).toBe('write');
      // Not another agent, not a reader (even holding a claim), not in another repository, not once
      // the claim or task ends.
      expect((await caught(requireStreamWrite(deps, store.db, repo, withTask, reader))).code).toBe(
        'forbidden',
      );
      await store.db
        .insertInto('gitswarm_task_claims')
        .values({
          id: newId(),
          task_id: task.id,
          agent_id: reader.id,
          stream_id: null,
          status: 'active',
          claimed_at: new Date().toISOString(),
        })
        .execute();
      expect((await caught(requireStreamWrite(deps, store.db, repo, withTask, reader))).code).toBe(
        'forbidden',
      );
      const other = await seedRepo(deps, { agent_access: 'public' });
      expect(
        (
          await caught(
            requireStreamWrite(deps, store.db, other.repo, { ...withTask, agent_id: owner.id }, writer),
          )
        ).code,
      ).toBe('forbidden');
      await store.db
        .updateTable('gitswarm_tasks')
        .set({ status: 'submitted' })
        .where('id', '=', task.id)
        .execute();
      expect((await caught(requireStreamWrite(deps, store.db, repo, withTask, writer))).code).toBe(
        'forbidden',
      );
      await store.db
        .updateTable('gitswarm_tasks')
        .set({ status: 'claimed' })
        .where('id', '=', task.id)
        .execute();
      expect((await requireStreamWrite(deps, store.db, repo, withTask, writer)).level).toBe('write');
      await store.db
        .updateTable('gitswarm_task_claims')
        .set({ status: 'abandoned' })
        .where('id', '=', claim.id)
        .execute();
      expect((await caught(requireStreamWrite(deps, store.db, repo, withTask, writer))).code).toBe(
        'forbidden',
      );
    });

    it('an archived repository: writers get invalid_state, agents without access still forbidden', async () => {
      const { repo, owner } = await seedRepo(deps, { is_private: true, agent_access: 'allowlist' });
      const maintainer = await seedAgent(deps, 'maint');
      const reader = await seedAgent(deps, 'reader');
      const outsider = await seedAgent(deps, 'outsider');
      await grantAccess(deps, store.db, { repo, actor: owner, agent: maintainer, level: 'maintain' });
      await grantAccess(deps, store.db, { repo, actor: owner, agent: reader, level: 'read' });
      await store.db
        .updateTable('gitswarm_repos')
        .set({ status: 'archived' })
        .where('id', '=', repo.id)
        .execute();
      const archived = { ...repo, status: 'archived' };
      const stream = { id: 's', agent_id: owner.id, metadata: {} };
      expect((await caught(requireStreamWrite(deps, store.db, archived, stream, maintainer))).code).toBe(
        'invalid_state',
      );
      expect((await caught(requireStreamWrite(deps, store.db, archived, stream, owner))).code).toBe(
        'invalid_state',
      );
      // One who may read learns it is archived, with the write refused.
      const readerRefused = await caught(requireStreamWrite(deps, store.db, archived, stream, reader));
      expect(readerRefused.code).toBe('invalid_state');
      expect(readerRefused.details).toEqual({ repo_id: repo.id, status: 'archived', action: 'write' });
      expect((await caught(requireStreamWrite(deps, store.db, archived, stream, outsider))).code).toBe(
        'forbidden',
      );
    });

    it('each action needs exactly its level: read, write, merge = maintain, settings = admin', async () => {
      const seeded = await seedRepo(deps, { agent_access: 'allowlist' });
      const { repo, owner } = seeded;
      const agents = {
        read: await seedAgent(deps, 'reader'),
        write: await seedAgent(deps, 'writer'),
        maintain: await seedAgent(deps, 'maintainer'),
        admin: await seedAgent(deps, 'admin'),
      };
      for (const [level, agent] of Object.entries(agents)) {
        await grantAccess(deps, store.db, { repo, actor: owner, agent, level: level as 'read' });
      }
      const actions = ['read', 'write', 'merge', 'settings'] as const;
      const allowed: Record<string, string[]> = {};
      for (const [level, agent] of Object.entries(agents)) {
        allowed[level] = [];
        for (const action of actions) {
          const result = await requireAction(deps, store.db, repo, agent, action).then(
            (access) => access,
            (error: GitSwarmError) => error,
          );
          if ('level' in result) {
            expect(result).toEqual({ level, source: 'grant' });
            allowed[level].push(action);
          } else {
            expect(result.code).toBe('forbidden');
          }
        }
      }
      expect(allowed).toEqual({
        read: ['read'],
        write: ['read', 'write'],
        maintain: ['read', 'write', 'merge'],
        admin: ['read', 'write', 'merge', 'settings'],
      });
    });

    it('a refusal names the level held and the level needed, with the grant command as hint', async () => {
      const seeded = await seedRepo(deps, { agent_access: 'public' });
      const writer = await seedAgent(deps, 'writer');
      const error = await caught(requireAction(deps, store.db, seeded.repo, writer, 'merge'));
      expect(error.code).toBe('forbidden');
      expect(error.message).toBe(`Agent ${writer.name} has write access; this needs maintain.`);
      expect(error.hint).toBe(
        `An admin can grant it: gitswarm access grant ${writer.name} maintain --as <admin>`,
      );
      expect(error.details).toEqual({ required: 'maintain', actual: 'write' });
    });

    it('an archived repository still lets a reader read, and says so with the repository and action', async () => {
      const seeded = await seedRepo(deps, { agent_access: 'allowlist' });
      const reader = await seedAgent(deps, 'reader');
      const archived = { ...seeded.repo, status: 'archived' as const };
      expect(await requireAction(deps, store.db, archived, reader, 'read')).toEqual({
        level: 'read',
        source: 'repo_mode',
      });
      const error = await caught(requireAction(deps, store.db, archived, reader, 'write'));
      expect(error.code).toBe('invalid_state');
      expect(error.details).toEqual({ repo_id: seeded.repo.id, status: 'archived', action: 'write' });
    });

    it('public gives write whatever min_karma says; an unknown repository is named in the refusal', async () => {
      const open = await seedRepo(deps, { agent_access: 'public', min_karma: 50 });
      const newcomer = await seedAgent(deps, 'newcomer');
      expect(await resolveAccess(deps, store.db, open.repo, newcomer)).toEqual({
        level: 'write',
        source: 'repo_mode',
      });
      const missing = '00000000-0000-4000-8000-000000000001';
      const error = await caught(getRepoForAction(deps, store.db, missing, newcomer, 'read'));
      expect(error.code).toBe('repo_not_found');
      expect(error.message).toBe(`No repository with id ${missing}`);
    });

    it('karma_threshold: no karma row counts as 0 (write when min_karma is 0, read above it)', async () => {
      const free = await seedRepo(deps, { agent_access: 'karma_threshold', min_karma: 0 });
      const gated = await seedRepo(deps, { agent_access: 'karma_threshold', min_karma: 1 });
      const newcomer = await seedAgent(deps, 'newcomer');
      expect(await resolveAccess(deps, store.db, free.repo, newcomer)).toEqual({
        level: 'write',
        source: 'repo_mode',
      });
      expect((await resolveAccess(deps, store.db, gated.repo, newcomer)).level).toBe('read');
      const one = await seedAgent(deps, 'one', { karma: 1, karmaIn: gated.repo });
      expect((await resolveAccess(deps, store.db, gated.repo, one)).level).toBe('write');
    });

    it('a grant stops counting at the instant it expires', async () => {
      const seeded = await seedRepo(deps, { agent_access: 'allowlist' });
      const agent = await seedAgent(deps, 'temp');
      const expiresAt = '2026-04-01T00:00:00.000Z';
      await grantAccess(deps, store.db, {
        repo: seeded.repo,
        actor: seeded.owner,
        agent,
        level: 'admin',
        expiresAt,
      });
      deps.clock.set('2026-03-31T23:59:59.999Z');
      expect(await resolveAccess(deps, store.db, seeded.repo, agent)).toEqual({
        level: 'admin',
        source: 'grant',
      });
      deps.clock.set(expiresAt);
      expect(await resolveAccess(deps, store.db, seeded.repo, agent)).toEqual({
        level: 'read',
        source: 'repo_mode',
      });
      deps.clock.set('2026-03-01T12:00:00.000Z');
    });

    it('re-granting replaces level, granter and expiry; revoking removes the grant, twice is not_found', async () => {
      const seeded = await seedRepo(deps, { agent_access: 'allowlist' });
      const { repo, owner } = seeded;
      const admin = await seedAgent(deps, 'admin');
      const first = await seedAgent(deps, 'first');
      const second = await seedAgent(deps, 'second');
      await grantAccess(deps, store.db, { repo, actor: owner, agent: admin, level: 'admin' });
      await grantAccess(deps, store.db, {
        repo,
        actor: owner,
        agent: first,
        level: 'write',
        expiresAt: '2027-01-01T00:00:00.000Z',
      });
      await grantAccess(deps, store.db, { repo, actor: owner, agent: second, level: 'read' });
      // The admin (by grant) re-grants: the row is replaced, not added; the expiry goes.
      await grantAccess(deps, store.db, { repo, actor: admin, agent: first, level: 'maintain' });
      const grants = await listAccessGrants(store.db, repo.id);
      expect(grants.map((g) => [g.agent_name, g.access_level, g.granted_by, g.expires_at])).toEqual([
        [admin.name, 'admin', owner.id, null],
        [first.name, 'maintain', admin.id, null],
        [second.name, 'read', owner.id, null],
      ]);
      expect(grants.map((g) => g.agent_id)).toEqual([admin.id, first.id, second.id]);

      // Only an admin grants or revokes.
      expect(
        (await caught(grantAccess(deps, store.db, { repo, actor: first, agent: second, level: 'write' })))
          .code,
      ).toBe('forbidden');
      expect((await caught(revokeAccess(deps, store.db, { repo, actor: first, agent: second }))).code).toBe(
        'forbidden',
      );

      await revokeAccess(deps, store.db, { repo, actor: owner, agent: first });
      expect((await listAccessGrants(store.db, repo.id)).map((g) => g.agent_id)).toEqual([
        admin.id,
        second.id,
      ]);
      expect(await resolveAccess(deps, store.db, repo, first)).toEqual({
        level: 'read',
        source: 'repo_mode',
      });
      const again = await caught(revokeAccess(deps, store.db, { repo, actor: owner, agent: first }));
      expect(again.code).toBe('not_found');
      expect(again.message).toBe(`Agent ${first.name} has no explicit access grant.`);
      expect(again.hint).toBe('List grants with: gitswarm access list');

      const activity = await listActivity(store.db, {
        repoId: repo.id,
        eventTypes: ['access.granted', 'access.revoked'],
      });
      const byEvent = activity
        .map((a) => [a.event_type, a.agent_id, a.target_type, a.target_id, a.metadata])
        .reverse();
      expect(byEvent).toEqual([
        ['access.granted', owner.id, 'agent', admin.id, { agent: admin.name, level: 'admin' }],
        ['access.granted', owner.id, 'agent', first.id, { agent: first.name, level: 'write' }],
        ['access.granted', owner.id, 'agent', second.id, { agent: second.name, level: 'read' }],
        ['access.granted', admin.id, 'agent', first.id, { agent: first.name, level: 'maintain' }],
        ['access.revoked', owner.id, 'agent', first.id, { agent: first.name }],
      ]);
    });
  });
}
