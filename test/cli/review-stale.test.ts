/**
 * Reviews follow the code through the CLI, on both dialects and real git: a commit that changes
 * the stream's diff shows the approval as stale in `review list` and `consensus` (text and
 * `--json`), `merge` is refused until a reviewer approves the new head, and `config stale_reviews
 * keep` makes stale approvals count again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { createTestRepo, type TestRepo } from './helpers.js';
import { storeEnv } from './in-process.js';

interface ReviewList {
  stream_id: string;
  head_commit: string;
  stale: number;
  stale_reviews: string;
  reviews: { reviewer_name: string; verdict: string; head_commit: string | null; stale: boolean }[];
}

interface Consensus {
  reached: boolean;
  approvals: number;
  stale_approvals: number;
  stale_rejections: number;
  stale_reviews: string;
  head_commit: string;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: gitswarm review list / consensus show stale reviews`, () => {
    let repo: TestRepo;

    beforeAll(async () => {
      repo = createTestRepo({ env: await storeEnv(dialect), inProcess: true });
    });
    afterAll(() => repo.close());

    async function ok<T = Record<string, unknown>>(args: string[]): Promise<T> {
      const run = await repo.run([...args, '--json']);
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
      return run.json<T>();
    }

    async function text(args: string[]): Promise<string> {
      const run = await repo.run(args);
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
      return run.stdout;
    }

    async function commit(worktree: string, file: string, content: string): Promise<string> {
      repo.write(file, content, worktree);
      return (await ok<{ commit: string }>(['commit', '-m', `Write ${file}`, '--as', 'coder'])).commit;
    }

    it('approve, change the diff → stale and no merge; re-approve → merge; keep → stale ones count', async () => {
      await ok(['init', '--model', 'guild', '--min-reviews', '1']);
      for (const name of ['owner', 'reviewer', 'coder']) await ok(['agent', 'register', name]);
      await ok(['maintainer', 'add', 'reviewer', '--as', 'owner']);
      expect((await ok<{ settings: Record<string, unknown> }>(['config'])).settings.stale_reviews).toBe(
        'dismiss',
      );

      const { stream, worktree } = await ok<{ stream: { id: string }; worktree: string }>([
        'workspace',
        'create',
        '--as',
        'coder',
      ]);
      const first = await commit(worktree, 'a.txt', 'one\n');
      await ok(['review', 'submit', stream.id, '--as', 'coder']);
      await ok(['review', 'submit', stream.id, 'approve', '--as', 'reviewer', '-m', 'LGTM']);
      expect(await ok<Consensus>(['consensus', stream.id])).toMatchObject({
        reached: true,
        stale_approvals: 0,
        head_commit: first,
      });

      const second = await commit(worktree, 'a.txt', 'one\ntwo\n');
      const listed = await ok<ReviewList>(['review', 'list', stream.id]);
      expect(listed).toMatchObject({ head_commit: second, stale: 1, stale_reviews: 'dismiss' });
      expect(listed.reviews).toEqual([
        expect.objectContaining({
          reviewer_name: 'reviewer',
          verdict: 'approve',
          head_commit: first,
          stale: true,
        }),
      ]);
      expect(await text(['review', 'list', stream.id])).toMatch(
        /reviewer\s+approve \(stale\)\s+-\s+LGTM\s+[0-9a-f]{7}\n1 stale: given on code that has changed since/,
      );
      expect(await ok<Consensus>(['consensus', stream.id])).toMatchObject({
        reached: false,
        approvals: 0,
        stale_approvals: 1,
        stale_reviews: 'dismiss',
        head_commit: second,
      });
      expect(await text(['consensus', stream.id])).toContain(
        '1 stale approval (code changed since) not counted',
      );
      const queue = (await ok<{ queue: Record<string, unknown>[] }>(['status'])).queue;
      expect(queue).toEqual([
        expect.objectContaining({ stream_id: stream.id, ready: false, approvals: 0, stale_approvals: 1 }),
      ]);
      const shown = await text(['status']);
      expect(shown).toMatch(/waiting\s+0 approve, 0 request changes, 1 stale \(code changed since\)/);
      expect(shown).toMatch(
        new RegExp(`^${stream.id}\\s+\\S+\\s+coder\\s+in_review\\s+approved \\(stale\\)$`, 'm'),
      );
      const refused = await repo.run(['merge', stream.id, '--as', 'coder', '--json']);
      expect(refused.code).not.toBe(0);
      expect(refused.json<{ error: { code: string } }>().error.code).toBe('no_consensus');

      expect(await text(['review', 'submit', stream.id, 'approve', '--as', 'reviewer'])).toContain(
        `Recorded approve from reviewer on stream ${stream.id} at ${second.slice(0, 7)}\nconsensus reached`,
      );
      expect(await ok<ReviewList>(['review', 'list', stream.id])).toMatchObject({ stale: 0 });
      expect(await ok<Consensus>(['consensus', stream.id])).toMatchObject({
        reached: true,
        stale_approvals: 0,
      });

      // keep: a later change leaves the approval stale but counted.
      const bad = await repo.run(['config', 'stale_reviews', 'forget', '--as', 'owner', '--json']);
      expect(bad.code).not.toBe(0);
      expect(bad.json<{ error: { code: string } }>().error.code).toBe('invalid_input');
      await ok(['config', 'stale_reviews', 'keep', '--as', 'owner']);
      await commit(worktree, 'b.txt', 'more\n');
      expect(await ok<Consensus>(['consensus', stream.id])).toMatchObject({
        reached: true,
        approvals: 1,
        stale_approvals: 1,
        stale_reviews: 'keep',
      });
      expect(await text(['consensus', stream.id])).toContain('still counted (stale_reviews keep)');
      expect(await ok<ReviewList>(['review', 'list', stream.id])).toMatchObject({
        stale: 1,
        stale_reviews: 'keep',
      });
      expect(await ok<{ merged: boolean }>(['merge', stream.id, '--as', 'coder'])).toMatchObject({
        merged: true,
      });
    });
  });
}
