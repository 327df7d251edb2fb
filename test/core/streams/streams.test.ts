import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  canTransition,
  getStream,
  type ListStreamsQuery,
  listDependents,
  listReadableStreamsPage,
  listStreams,
  STREAM_TRANSITIONS,
  updateStream,
} from '../../../src/core/streams/streams.js';
import type { StreamStatus } from '../../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../../helpers/store.js';
import { insertStream, seedAgent, seedRepo, testDeps } from '../../helpers/streams-fixture.js';

describe('stream state machine', () => {
  it('allows exactly the documented transitions', () => {
    const allowed = Object.entries(STREAM_TRANSITIONS).flatMap(([from, tos]) =>
      tos.map((to) => `${from}→${to}`),
    );
    expect(allowed.sort()).toEqual(
      [
        'active→in_review',
        'active→conflicted',
        'active→merged',
        'active→abandoned',
        'in_review→active',
        'in_review→conflicted',
        'in_review→merged',
        'in_review→abandoned',
        'conflicted→active',
        'conflicted→in_review',
        'conflicted→merged',
        'conflicted→abandoned',
        'merged→reverted',
        'merged→active',
      ].sort(),
    );
    const terminal: StreamStatus[] = ['abandoned', 'reverted'];
    for (const from of terminal) expect(STREAM_TRANSITIONS[from]).toEqual([]);
    expect(canTransition('merged', 'in_review')).toBe(false);
    expect(canTransition('reverted', 'active')).toBe(false);
    expect(canTransition('abandoned', 'active')).toBe(false);
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: streams`, () => {
    let store: TestStore;
    beforeAll(async () => {
      store = await openTestStore(dialect);
    });
    afterAll(async () => {
      await store.close();
    });

    it('finds a stream by id, branch or name, and a live one before an old one of the same name', async () => {
      const deps = testDeps(store);
      const { repo } = await seedRepo(deps);
      const agent = await seedAgent(deps, 'coder');
      const old = await insertStream(deps, repo, agent, { name: 'feature', status: 'merged' });
      const live = await insertStream(deps, repo, agent, { name: 'feature' });
      expect((await getStream(store.db, repo.id, live.id)).id).toBe(live.id);
      expect((await getStream(store.db, repo.id, `stream/${old.id}`)).id).toBe(old.id);
      expect((await getStream(store.db, repo.id, 'feature')).id).toBe(live.id);
      await expect(getStream(store.db, repo.id, 'nothing')).rejects.toMatchObject({
        code: 'stream_not_found',
      });
      const other = await seedRepo(deps);
      await expect(getStream(store.db, other.repo.id, live.id)).rejects.toMatchObject({
        code: 'stream_not_found',
      });
    });

    it('lists by status and finds dependents transitively, parents first, skipping finished ones', async () => {
      const deps = testDeps(store);
      const { repo } = await seedRepo(deps);
      const agent = await seedAgent(deps, 'coder');
      const root = await insertStream(deps, repo, agent);
      const child = await insertStream(deps, repo, agent, { parentStreamId: root.id });
      const grandchild = await insertStream(deps, repo, agent, { parentStreamId: child.id });
      await insertStream(deps, repo, agent, { parentStreamId: root.id, status: 'abandoned' });
      const sibling = await insertStream(deps, repo, agent, {
        parentStreamId: root.id,
        status: 'conflicted',
      });
      expect((await listDependents(store.db, repo.id, root.id)).map((s) => s.id)).toEqual([
        child.id,
        sibling.id,
        grandchild.id,
      ]);
      expect((await listStreams(store.db, repo.id, { status: ['abandoned'] })).length).toBe(1);
      expect((await listStreams(store.db, repo.id)).length).toBe(5);
      // The same filters on a reader's first page, each alone (the unfiltered page is compiled once).
      const firstPage = async (query: ListStreamsQuery) =>
        (await listReadableStreamsPage(deps, { repoId: repo.id, agent, query, page: {} })).page.rows.map(
          (s) => s.id,
        );
      expect(await firstPage({})).toEqual((await listStreams(store.db, repo.id)).map((s) => s.id));
      expect(await firstPage({ status: ['conflicted'] })).toEqual([sibling.id]);
      expect(await firstPage({ parentStreamId: child.id })).toEqual([grandchild.id]);
      const helper = await seedAgent(deps, 'helper');
      const helped = await insertStream(deps, repo, helper);
      expect(await firstPage({ agentId: helper.id })).toEqual([helped.id]);
    });

    it('refuses a transition the state machine does not allow', async () => {
      const deps = testDeps(store);
      const { repo } = await seedRepo(deps);
      const agent = await seedAgent(deps, 'coder');
      const merged = await insertStream(deps, repo, agent, { status: 'merged' });
      await expect(updateStream(deps, store.db, merged, { status: 'in_review' })).rejects.toMatchObject({
        code: 'invalid_state',
      });
      const conflicted = await updateStream(deps, store.db, await insertStream(deps, repo, agent), {
        status: 'conflicted',
        conflict: {
          operation: 'merge',
          onto: 'abc',
          paths: ['a.txt'],
          detected_at: '2026-03-01T00:00:00.000Z',
        },
      });
      expect(conflicted.conflict).toEqual({
        operation: 'merge',
        onto: 'abc',
        paths: ['a.txt'],
        detected_at: '2026-03-01T00:00:00.000Z',
      });
      const recovered = await updateStream(deps, store.db, conflicted, { status: 'active', conflict: null });
      expect(recovered).toMatchObject({ status: 'active', conflict: null });
    });
  });
}
