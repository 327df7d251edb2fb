/**
 * An archived repository refuses every action above read (invalid_state, naming it); without read
 * access the answer stays forbidden.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireAction } from '../../src/core/access.js';
import type { CoreDeps } from '../../src/core/deps.js';
import { recordCommit, recordStream } from '../../src/core/remote-sync.js';
import { archiveRepo } from '../../src/core/repo-archive.js';
import { GitSwarmError } from '../../src/errors.js';
import type { Agent, Stream } from '../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';
import { type SeededRepo, seedAgent, seedRepo, testDeps } from '../helpers/streams-fixture.js';

const sha = () => randomBytes(20).toString('hex');

async function caught(promise: Promise<unknown>): Promise<GitSwarmError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GitSwarmError) return error;
    throw error;
  }
  throw new Error('expected a GitSwarmError');
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: archived repositories`, () => {
    let store: TestStore;
    let deps: CoreDeps;

    beforeAll(async () => {
      store = await openTestStore(dialect);
      deps = testDeps(store);
    });
    afterAll(async () => {
      await store.close();
    });

    async function setUp(settings: Record<string, unknown> = {}) {
      const seeded = await seedRepo(deps, settings);
      const writer = await seedAgent(deps, 'writer');
      return { seeded, writer };
    }

    async function streamWithCommit(seeded: SeededRepo, author: Agent): Promise<Stream> {
      const { stream } = await recordStream(deps, { repo: seeded.repo, agent: author });
      await recordCommit(deps, { repo: seeded.repo, stream, agent: author, commit: sha() });
      return stream;
    }

    it('an archived repository refuses every action above read, naming the repository', async () => {
      const { seeded, writer } = await setUp();
      const stream = await streamWithCommit(seeded, writer);
      await archiveRepo(deps, store.db, { repo: seeded.repo, actor: seeded.owner });
      const repo = { ...seeded.repo, status: 'archived' };
      expect((await requireAction(deps, store.db, repo, writer, 'read')).level).toBe('write');
      for (const [agent, action] of [
        [writer, 'write'],
        [seeded.owner, 'merge'],
        [seeded.owner, 'settings'],
      ] as const) {
        const error = await caught(requireAction(deps, store.db, repo, agent, action));
        expect(error.code).toBe('invalid_state');
        expect(error.message).toContain(`Repository ${seeded.repo.name} is archived`);
        expect(error.hint).toBeUndefined();
      }
      const before = await store.db
        .selectFrom('gitswarm_stream_commits')
        .select('id')
        .where('stream_id', '=', stream.id)
        .execute();
      const refused = await caught(
        recordCommit(deps, { repo: seeded.repo, stream, agent: writer, commit: sha() }),
      );
      expect(refused.code).toBe('invalid_state');
      expect((await caught(recordStream(deps, { repo: seeded.repo, agent: writer }))).code).toBe(
        'invalid_state',
      );
      const after = await store.db
        .selectFrom('gitswarm_stream_commits')
        .select('id')
        .where('stream_id', '=', stream.id)
        .execute();
      expect(after).toHaveLength(before.length);
      // Without read access the answer stays forbidden: archiving tells an outsider nothing.
      const secret = await setUp({ is_private: true });
      await archiveRepo(deps, store.db, { repo: secret.seeded.repo, actor: secret.seeded.owner });
      const hidden = await caught(
        requireAction(deps, store.db, { ...secret.seeded.repo, status: 'archived' }, secret.writer, 'write'),
      );
      expect(hidden.code).toBe('forbidden');
    });
  });
}
