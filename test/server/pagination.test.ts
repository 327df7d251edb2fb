/**
 * Cursor pagination of the list routes (streams, tasks, activity, a stream's reviews): pages cover
 * every row once even with inserts between pages, limits are bounded, a cursor that was not given
 * out is 400 invalid_cursor, and filters combine with cursors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import {
  callApi,
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './helpers.js';

interface Row {
  id: string;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: list pagination`, () => {
    let t: TestApp;
    let owner: TestAgent;
    let author: TestAgent;
    const call = (agent: TestAgent | null, method: string, url: string, payload?: unknown) =>
      callApi(t.app, agent, { method, url, payload });

    /** Every page of `url` (limit `limit`), calling `between` after each page; the rows and the page count. */
    const readAll = async (url: string, key: string, limit: number, between?: () => Promise<void>) => {
      const rows: Row[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const sep = url.includes('?') ? '&' : '?';
        const page = await call(
          owner,
          'GET',
          `${url}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        expect(page.status).toBe(200);
        expect(page.body[key].length).toBeLessThanOrEqual(limit);
        rows.push(...page.body[key]);
        cursor = page.body.next_cursor;
        pages += 1;
        if (cursor && between) await between();
      } while (cursor);
      return { rows, pages };
    };

    const ids = (rows: Row[]) => rows.map((row) => row.id);
    const newStream = async (repoId: string, agent: TestAgent, name: string) => {
      const created = await call(agent, 'POST', `/repos/${repoId}/streams`, { name });
      expect(created.status).toBe(201);
      return created.body.stream as Row;
    };

    beforeAll(async () => {
      t = await startTestApp(dialect);
      owner = await registerTestAgent(t.app);
      author = await registerTestAgent(t.app);
    });
    afterAll(async () => {
      await t.close();
    });

    it('streams: pages cover every row once while others are inserted between them', async () => {
      const repo = await createTestRepo(t.app, owner);
      const before: Row[] = [];
      for (let i = 0; i < 7; i++) before.push(await newStream(repo.id, author, `s-${i}`));
      let added = 0;
      const { rows, pages } = await readAll(`/repos/${repo.id}/streams`, 'streams', 3, async () => {
        await newStream(repo.id, author, `late-${added++}`);
      });
      expect(pages).toBeGreaterThanOrEqual(3);
      // No row twice; every row that existed before the first page, once.
      expect(new Set(ids(rows)).size).toBe(rows.length);
      for (const stream of before) expect(ids(rows)).toContain(stream.id);
      // The pages together are the list's order.
      const whole = await call(owner, 'GET', `/repos/${repo.id}/streams?limit=1000`);
      expect(whole.body.next_cursor).toBeNull();
      const order = ids(whole.body.streams);
      expect(ids(rows)).toEqual(order.filter((id) => ids(rows).includes(id)));
    });

    it('streams: default 100, at most 1000, filters combine with the cursor', async () => {
      const repo = await createTestRepo(t.app, owner);
      const other = await registerTestAgent(t.app);
      for (let i = 0; i < 101; i++) await newStream(repo.id, i % 10 === 0 ? other : author, `d-${i}`);
      const first = await call(owner, 'GET', `/repos/${repo.id}/streams`);
      expect(first.body.streams).toHaveLength(100);
      expect(typeof first.body.next_cursor).toBe('string');
      const rest = await call(
        owner,
        'GET',
        `/repos/${repo.id}/streams?cursor=${encodeURIComponent(first.body.next_cursor)}`,
      );
      expect(rest.body.streams).toHaveLength(1);
      expect(rest.body.next_cursor).toBeNull();
      for (const limit of [0, 1001, -1]) {
        const refused = await call(owner, 'GET', `/repos/${repo.id}/streams?limit=${limit}`);
        expect(refused.status).toBe(400);
      }
      const byOther = await readAll(`/repos/${repo.id}/streams?agent_id=${other.id}`, 'streams', 4);
      expect(byOther.rows).toHaveLength(11);
      expect(byOther.pages).toBe(3);
      expect(byOther.rows.every((s) => (s as Row & { agent_id: string }).agent_id === other.id)).toBe(true);
      // A filter alone, on the first page at the default size.
      const onlyOther = await call(owner, 'GET', `/repos/${repo.id}/streams?agent_id=${other.id}`);
      expect(ids(onlyOther.body.streams)).toEqual(ids(byOther.rows));
      const merged = await call(owner, 'GET', `/repos/${repo.id}/streams?status=merged`);
      expect(merged.body).toEqual({ streams: [], next_cursor: null });
    });

    it('tasks: priority order kept across pages, with a status filter', async () => {
      const repo = await createTestRepo(t.app, owner);
      const priorities = ['low', 'critical', 'medium', 'high', 'low', 'critical', 'medium', 'high', 'low'];
      for (const [i, priority] of priorities.entries()) {
        const created = await call(owner, 'POST', `/repos/${repo.id}/tasks`, { title: `t${i}`, priority });
        expect(created.status).toBe(201);
      }
      const whole = await call(owner, 'GET', `/repos/${repo.id}/tasks?limit=1000`);
      expect(whole.body.tasks.map((task: { priority: string }) => task.priority).slice(0, 2)).toEqual([
        'critical',
        'critical',
      ]);
      let added = 0;
      const { rows } = await readAll(`/repos/${repo.id}/tasks`, 'tasks', 2, async () => {
        await call(owner, 'POST', `/repos/${repo.id}/tasks`, { title: `late${added++}`, priority: 'low' });
      });
      expect(new Set(ids(rows)).size).toBe(rows.length);
      // The tasks that were there throughout come in the list's order (late ones fall among the lows).
      const before = new Set(ids(whole.body.tasks));
      expect(ids(rows).filter((id) => before.has(id))).toEqual(ids(whole.body.tasks));
      const open = await readAll(`/repos/${repo.id}/tasks?status=open`, 'tasks', 4);
      const now = await call(owner, 'GET', `/repos/${repo.id}/tasks?limit=1000`);
      expect(ids(open.rows)).toEqual(ids(now.body.tasks));
      const none = await call(owner, 'GET', `/repos/${repo.id}/tasks?status=completed&limit=2`);
      expect(none.body).toMatchObject({ tasks: [], next_cursor: null });
    });

    it('activity (repository and global) and reviews page by cursor; event_type combines', async () => {
      const repo = await createTestRepo(t.app, owner);
      const stream = await newStream(repo.id, author, 'reviewed');
      const reviewers: TestAgent[] = [];
      for (let i = 0; i < 5; i++) {
        const reviewer = await registerTestAgent(t.app);
        reviewers.push(reviewer);
        const review = await call(reviewer, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'comment' });
        expect(review.status).toBe(201);
      }
      const reviews = await readAll(`/streams/${stream.id}/reviews`, 'reviews', 2);
      expect(reviews.pages).toBe(3);
      expect(reviews.rows.map((r) => (r as Row & { reviewer_id: string }).reviewer_id)).toEqual(
        reviewers.map((r) => r.id),
      );

      const whole = await call(owner, 'GET', `/repos/${repo.id}/activity?limit=1000`);
      expect(whole.body.next_cursor).toBeNull();
      const paged = await readAll(`/repos/${repo.id}/activity`, 'activity', 2);
      expect(ids(paged.rows)).toEqual(ids(whole.body.activity));
      const reviewed = await readAll(`/repos/${repo.id}/activity?event_type=stream.reviewed`, 'activity', 2);
      expect(reviewed.rows).toHaveLength(5);
      expect(reviewed.pages).toBe(3);
      const global = await readAll('/activity', 'activity', 7);
      expect(new Set(ids(global.rows)).size).toBe(global.rows.length);
      for (const entry of whole.body.activity) expect(ids(global.rows)).toContain(entry.id);
    });

    it('a cursor that was not given out is 400 invalid_cursor on every list', async () => {
      const repo = await createTestRepo(t.app, owner);
      const stream = await newStream(repo.id, author, 'one');
      await newStream(repo.id, author, 'two');
      const streamsCursor = (await call(owner, 'GET', `/repos/${repo.id}/streams?limit=1`)).body.next_cursor;
      const forged = [
        'not a cursor',
        '!!!',
        Buffer.from('{"a":1}').toString('base64url'),
        Buffer.from('["x"]').toString('base64url'),
        Buffer.from('[1,2]').toString('base64url'),
        streamsCursor.slice(0, -3),
      ];
      const lists = [
        `/repos/${repo.id}/streams`,
        `/repos/${repo.id}/tasks`,
        `/repos/${repo.id}/activity`,
        '/activity',
        `/streams/${stream.id}/reviews`,
      ];
      for (const url of lists) {
        for (const cursor of forged) {
          const refused = await call(owner, 'GET', `${url}?cursor=${encodeURIComponent(cursor)}`);
          expect(refused.status, `${url} ${cursor}`).toBe(400);
          expect(refused.body.error.code, `${url} ${cursor}`).toBe('invalid_cursor');
        }
      }
      // A streams cursor does not fit the tasks list (other keys).
      const foreign = await call(owner, 'GET', `/repos/${repo.id}/tasks?cursor=${streamsCursor}`);
      expect(foreign.body.error.code).toBe('invalid_cursor');
    });
  });
}
