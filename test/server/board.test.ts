/**
 * GET /repos/:id/board: per column the count and the newest streams, the consensus of the open
 * ones (the same answer as GET /streams/:id/consensus, stale reviews included), the fork edges
 * capped, 400 on a bad per_column, and the read rules of GET /repos/:id/streams.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toJson } from '../../src/store/index.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import {
  callApi,
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './helpers.js';

const sha = () => randomBytes(20).toString('hex');

interface BoardAnswer {
  columns: { status: string; count: number; streams: { id: string; name: string; agent_name: string }[] }[];
  consensus: Record<string, unknown>;
  forks: { parent_id: string; child_id: string; parent_name: string; child_status: string }[];
  forks_truncated: boolean;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: the streams board`, () => {
    let t: TestApp;
    let owner: TestAgent;
    let author: TestAgent;
    let reviewer: TestAgent;
    let outsider: TestAgent;
    const call = (agent: TestAgent | null, method: string, url: string, payload?: unknown) =>
      callApi(t.app, agent, { method, url, payload });
    const board = async (repoId: string, query = '') => {
      const answer = await call(owner, 'GET', `/repos/${repoId}/board${query}`);
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      return answer.body as BoardAnswer;
    };
    const column = (answer: BoardAnswer, status: string) => answer.columns.find((c) => c.status === status);
    const setStatus = (ids: readonly string[], status: 'merged' | 'reverted' | 'abandoned') =>
      t.store.db.updateTable('gitswarm_streams').set({ status }).where('id', 'in', ids).execute();
    const createStreams = async (repoId: string, count: number, prefix: string) => {
      const made: { id: string; name: string }[] = [];
      for (let i = 0; i < count; i++) {
        const answer = await call(author, 'POST', `/repos/${repoId}/streams`, { name: `${prefix}-${i}` });
        made.push(answer.body.stream);
      }
      return made;
    };

    beforeAll(async () => {
      t = await startTestApp(dialect);
      owner = await registerTestAgent(t.app);
      author = await registerTestAgent(t.app);
      reviewer = await registerTestAgent(t.app);
      outsider = await registerTestAgent(t.app);
    });
    afterAll(async () => {
      await t.close();
    });

    it('counts every column and returns its newest streams, newest first, at most per_column (12 by default)', async () => {
      const repo = await createTestRepo(t.app, owner);
      const streams = await createStreams(repo.id, 16, 'w');
      await call(author, 'POST', `/streams/${streams[0]?.id}/submit`, {});
      await setStatus(
        streams.slice(1, 4).map((s) => s.id),
        'merged',
      );
      await setStatus([streams[4]?.id ?? ''], 'reverted');
      await setStatus([streams[5]?.id ?? ''], 'abandoned');
      const whole = await board(repo.id);
      expect(whole.columns.map((c) => [c.status, c.count])).toEqual([
        ['active', 10],
        ['in_review', 1],
        ['conflicted', 0],
        ['merged', 3],
        ['reverted', 1],
      ]);
      const active = column(whole, 'active');
      expect(active?.streams.map((s) => s.name)).toEqual(
        streams
          .slice(6)
          .reverse()
          .map((s) => s.name),
      );
      expect(active?.streams[0]?.agent_name).toBe(author.name);
      expect(column(whole, 'merged')?.streams.map((s) => s.name)).toEqual(['w-3', 'w-2', 'w-1']);
      const capped = await board(repo.id, '?per_column=4');
      expect(column(capped, 'active')?.count).toBe(10);
      expect(column(capped, 'active')?.streams.map((s) => s.name)).toEqual(['w-15', 'w-14', 'w-13', 'w-12']);
      expect(column(capped, 'merged')?.streams).toHaveLength(3);

      const more = await createStreams(repo.id, 5, 'x');
      expect(more).toHaveLength(5);
      expect(column(await board(repo.id), 'active')?.streams).toHaveLength(12);
      // Consensus for the open streams on the board only.
      expect(Object.keys(whole.consensus).sort()).toEqual(
        [...(active?.streams ?? []), ...(column(whole, 'in_review')?.streams ?? [])].map((s) => s.id).sort(),
      );
    });

    it('gives each open stream the consensus GET /streams/:id/consensus gives, stale reviews included, under solo, guild and open', async () => {
      for (const settings of [
        { ownership_model: 'solo' },
        { ownership_model: 'guild', min_reviews: 1 },
        { ownership_model: 'guild', min_reviews: 2 },
        { ownership_model: 'open' },
        { ownership_model: 'open', stale_reviews: 'keep' },
      ]) {
        const repo = await createTestRepo(t.app, owner, settings);
        await call(owner, 'POST', `/repos/${repo.id}/maintainers`, { agent_id: reviewer.id });
        const streams = await createStreams(repo.id, 4, 'c');
        for (const [i, stream] of streams.entries()) {
          await call(author, 'POST', `/streams/${stream.id}/commits`, { commit: sha() });
          if (i === 3) continue;
          await call(author, 'POST', `/streams/${stream.id}/submit`, {});
          await call(reviewer, 'POST', `/streams/${stream.id}/reviews`, {
            verdict: i === 1 ? 'request_changes' : 'approve',
          });
          await call(outsider, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'approve' });
          // The third stream's code moves on after its reviews: they are stale.
          if (i === 2) await call(author, 'POST', `/streams/${stream.id}/commits`, { commit: sha() });
        }
        const answer = await board(repo.id);
        expect(Object.keys(answer.consensus)).toHaveLength(4);
        for (const stream of streams) {
          const single = await call(owner, 'GET', `/streams/${stream.id}/consensus`);
          expect(answer.consensus[stream.id], `${JSON.stringify(settings)} ${stream.name}`).toEqual(
            single.body.consensus,
          );
        }
        const stale = answer.consensus[streams[2]?.id ?? ''] as { stale_approvals: number };
        expect(stale.stale_approvals).toBe(2);
      }
    });

    it('returns the fork edges, newest first, capped at 200 with forks_truncated', async () => {
      const repo = await createTestRepo(t.app, owner);
      const [parent] = await createStreams(repo.id, 1, 'p');
      const child = (
        await call(author, 'POST', `/repos/${repo.id}/streams`, { name: 'child', depends_on: parent?.id })
      ).body.stream;
      const few = await board(repo.id);
      expect(few.forks).toEqual([
        {
          parent_id: parent?.id,
          parent_name: 'p-0',
          parent_status: 'active',
          child_id: child.id,
          child_name: 'child',
          child_status: 'active',
        },
      ]);
      expect(few.forks_truncated).toBe(false);

      const base = await t.store.db
        .selectFrom('gitswarm_streams')
        .selectAll()
        .where('id', '=', child.id)
        .executeTakeFirstOrThrow();
      const suffix = randomBytes(3).toString('hex');
      const start = Date.parse(base.created_at);
      await t.store.db
        .insertInto('gitswarm_streams')
        .values(
          Array.from({ length: 200 }, (_, i) => ({
            ...base,
            id: `f${suffix}${i}`,
            name: `fork-${i}`,
            branch: `stream/f${suffix}${i}`,
            metadata: toJson(base.metadata),
            conflict: null,
            created_at: new Date(start + 1000 * (i + 1)).toISOString(),
            updated_at: new Date(start + 1000 * (i + 1)).toISOString(),
          })),
        )
        .execute();
      const many = await board(repo.id);
      expect(many.forks).toHaveLength(200);
      expect(many.forks_truncated).toBe(true);
      expect(many.forks[0]?.child_id).toBe(`f${suffix}199`);
      expect(many.forks.some((edge) => edge.child_id === child.id)).toBe(false);
    });

    it('refuses a bad per_column with 400 invalid_input', async () => {
      const repo = await createTestRepo(t.app, owner);
      for (const bad of ['0', '101', 'many', '-1', '']) {
        const answer = await call(owner, 'GET', `/repos/${repo.id}/board?per_column=${bad}`);
        expect(answer.status, bad).toBe(400);
        expect(answer.body.error.code, bad).toBe('invalid_input');
      }
      expect((await call(owner, 'GET', `/repos/${repo.id}/board?per_column=100`)).status).toBe(200);
      expect((await call(owner, 'GET', `/repos/${repo.id}/board?per_column=1`)).status).toBe(200);
    });

    it('reads a private repository as GET /repos/:id/streams does', async () => {
      const repo = await createTestRepo(t.app, owner, { is_private: true });
      await call(owner, 'POST', `/repos/${repo.id}/access`, { agent_id: author.id, access_level: 'read' });
      for (const agent of [null, outsider, author, owner]) {
        const streams = await call(agent, 'GET', `/repos/${repo.id}/streams`);
        const answer = await call(agent, 'GET', `/repos/${repo.id}/board`);
        expect(answer.status, agent?.name ?? 'anonymous').toBe(streams.status);
        if (streams.status !== 200) expect(answer.body.error.code).toBe(streams.body.error.code);
      }
      expect((await call(outsider, 'GET', `/repos/${repo.id}/board`)).status).not.toBe(200);
      expect((await call(null, 'GET', '/repos/no-such-repo/board')).status).toBe(404);
    });
  });
}
