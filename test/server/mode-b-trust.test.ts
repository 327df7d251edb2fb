/**
 * Issue 10 item 7: Mode B reports are trusted only from who may make them. Each attack is made
 * over HTTP with real commits made by real git in a clone the server never sees, and shown to do
 * no harm: a bystander's merge report, a merge commit that does not tie to the approved head or
 * the buffer head, a green for an untested commit (which must not open `promote`), and a red that
 * names an innocent stream (which must not file a critical task against its author).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { commitObject, sha } from './commit-objects.js';
import {
  callApi,
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './helpers.js';

const ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Client',
  GIT_AUTHOR_EMAIL: 'client@example.invalid',
  GIT_COMMITTER_NAME: 'Client',
  GIT_COMMITTER_EMAIL: 'client@example.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

/** A client's clone: git in a temp dir, output untrimmed where it is a commit object. */
class Clone {
  constructor(readonly dir: string) {
    this.git('init', '-q', '-b', 'main');
    this.commitFile('README.md', '# project\n', 'initial');
    this.git('branch', 'buffer');
  }
  git(...args: string[]): string {
    return execFileSync('git', args, { cwd: this.dir, env: ENV, encoding: 'utf8' }).trim();
  }
  commitFile(path: string, content: string, message: string): string {
    writeFileSync(join(this.dir, path), content);
    this.git('add', '-A');
    this.git('commit', '-q', '-m', message);
    return this.git('rev-parse', 'HEAD');
  }
  /** Merges `head` into the buffer with --no-ff (on `onto`, default the buffer's tip); returns the merge. */
  mergeIntoBuffer(head: string, onto = 'buffer'): string {
    this.git('checkout', '-q', '--detach', onto);
    this.git('merge', '-q', '--no-ff', '-m', 'Merge stream into buffer', head);
    const merge = this.git('rev-parse', 'HEAD');
    if (onto === 'buffer') this.git('branch', '-f', 'buffer', merge);
    return merge;
  }
  object(id: string): string {
    return execFileSync('git', ['cat-file', 'commit', id], { cwd: this.dir, env: ENV, encoding: 'utf8' });
  }
  report(id: string) {
    return { status: 'merged', merge_commit: id, commit_object: this.object(id) };
  }
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: Mode B reports are trusted only from who may make them`, () => {
    let t: TestApp;
    let dir: string;
    let clone: Clone;
    let owner: TestAgent;
    let maintainer: TestAgent;
    let author: TestAgent;
    let author2: TestAgent;
    let bystander: TestAgent;
    let repo: { id: string };
    const call = (agent: TestAgent | null, method: string, url: string, payload?: unknown) =>
      callApi(t.app, agent, { method, url, payload });

    /** A stream of `agent` with one recorded, approved commit on its branch in the clone. */
    const approvedStream = async (agent: TestAgent, file: string) => {
      const id = randomBytes(6).toString('hex');
      const created = await call(agent, 'POST', `/repos/${repo.id}/streams`, { id, name: `s-${id}` });
      expect(created.status).toBe(201);
      clone.git('checkout', '-q', '-b', `stream/${id}`, 'buffer');
      const head = clone.commitFile(file, `${file}\n`, `Add ${file}`);
      expect((await call(agent, 'POST', `/streams/${id}/commits`, { commit: head })).status).toBe(201);
      expect((await call(maintainer, 'POST', `/streams/${id}/reviews`, { verdict: 'approve' })).status).toBe(
        201,
      );
      return { id, head };
    };
    const streamOf = async (id: string) => (await call(null, 'GET', `/streams/${id}`)).body.stream;
    const merges = (streamId: string) =>
      t.store.db.selectFrom('gitswarm_merges').selectAll().where('stream_id', '=', streamId).execute();
    const bufferHead = async () =>
      (
        await t.store.db
          .selectFrom('gitswarm_buffer_heads')
          .select('head_commit')
          .where('repo_id', '=', repo.id)
          .executeTakeFirst()
      )?.head_commit ?? null;
    const criticalTasksOf = (agentId: string) =>
      t.store.db
        .selectFrom('gitswarm_tasks')
        .select('id')
        .where('repo_id', '=', repo.id)
        .where('assigned_to', '=', agentId)
        .where('priority', '=', 'critical')
        .execute();

    // Shared by the tests below, which run in order: the first reported merge (M1 on B0), the second (M2 on M1).
    let base0: string;
    let first: { id: string; head: string };
    let m1: string;
    let second: { id: string; head: string };
    let m2: string;

    beforeAll(async () => {
      t = await startTestApp(dialect);
      owner = await registerTestAgent(t.app);
      maintainer = await registerTestAgent(t.app);
      author = await registerTestAgent(t.app);
      author2 = await registerTestAgent(t.app);
      bystander = await registerTestAgent(t.app);
      repo = await createTestRepo(t.app, owner, {
        merge_mode: 'review',
        ownership_model: 'guild',
        stabilize_command: 'npm test',
        auto_promote_on_green: true,
      });
      expect(
        (await call(owner, 'POST', `/repos/${repo.id}/maintainers`, { agent_id: maintainer.id })).status,
      ).toBe(201);
      dir = mkdtempSync(join(tmpdir(), 'gitswarm-trust-'));
      clone = new Clone(dir);
      base0 = clone.git('rev-parse', 'buffer');
    });

    afterAll(async () => {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("a bystander cannot report another agent's merge; commits that do not tie are refused; the author's real report then succeeds", async () => {
      first = await approvedStream(author, 'a.txt');
      const unchanged = async () => {
        expect((await streamOf(first.id)).status).toBe('active');
        expect(await merges(first.id)).toHaveLength(0);
        expect(await bufferHead()).toBeNull();
      };

      // A bystander with write access: a made-up commit, then even a real merge it made itself.
      const madeUp = commitObject([base0, first.head]);
      const byBystander = await call(bystander, 'PATCH', `/streams/${first.id}`, {
        status: 'merged',
        merge_commit: madeUp.id,
        commit_object: madeUp.raw,
      });
      expect(byBystander.status).toBe(403);
      expect(byBystander.body.error.code).toBe('forbidden');
      const realMerge = clone.mergeIntoBuffer(first.head, base0);
      expect((await call(bystander, 'PATCH', `/streams/${first.id}`, clone.report(realMerge))).status).toBe(
        403,
      );
      await unchanged();

      // A commit id whose object is not the one sent (the parents would be invented): 400.
      const forged = await call(maintainer, 'PATCH', `/streams/${first.id}`, {
        status: 'merged',
        merge_commit: sha(),
        commit_object: clone.object(realMerge),
      });
      expect(forged.status).toBe(400);
      expect(forged.body.error.code).toBe('invalid_input');
      const edited = clone.object(realMerge).replace('Merge stream', 'Merge strean');
      expect(
        (
          await call(author, 'PATCH', `/streams/${first.id}`, {
            status: 'merged',
            merge_commit: realMerge,
            commit_object: edited,
          })
        ).status,
      ).toBe(400);
      // No commit object at all: 400.
      expect(
        (await call(author, 'PATCH', `/streams/${first.id}`, { status: 'merged', merge_commit: realMerge }))
          .status,
      ).toBe(400);

      // Real commits that are not the approved merge: an unrecorded, unreviewed head merged
      // instead, and a squash (one parent).
      clone.git('checkout', '-q', `stream/${first.id}`);
      const unreviewed = clone.commitFile('sneaky.txt', 'x\n', 'Not reviewed');
      const sneaky = clone.mergeIntoBuffer(unreviewed, base0);
      const wrongHead = await call(author, 'PATCH', `/streams/${first.id}`, clone.report(sneaky));
      expect(wrongHead.status).toBe(409);
      expect(wrongHead.body.error).toMatchObject({
        code: 'commit_mismatch',
        second_parent: unreviewed,
        approved_head: first.head,
      });
      clone.git('checkout', '-q', '--detach', base0);
      clone.git('merge', '-q', '--squash', first.head);
      clone.git('commit', '-q', '-m', 'Squashed');
      const squash = clone.git('rev-parse', 'HEAD');
      const oneParent = await call(author, 'PATCH', `/streams/${first.id}`, clone.report(squash));
      expect(oneParent.status).toBe(409);
      expect(oneParent.body.error.code).toBe('commit_mismatch');
      await unchanged();
      const pending = await t.store.db
        .selectFrom('gitswarm_operations')
        .select('status')
        .where('stream_id', '=', first.id)
        .execute();
      expect(pending.every((op) => op.status !== 'pending')).toBe(true);

      // The author's real report of the approved merge, made as the merge decision says.
      const decision = await call(author, 'POST', `/streams/${first.id}/merge`, {});
      expect(decision.body).toMatchObject({ approved: true, buffer_head: null, head_commit: first.head });
      m1 = clone.mergeIntoBuffer(first.head);
      const real = await call(author, 'PATCH', `/streams/${first.id}`, clone.report(m1));
      expect(real.status).toBe(200);
      expect(real.body.stream.status).toBe('merged');
      expect(await merges(first.id)).toMatchObject([
        { merge_commit: m1, base_commit: base0, head_commit: first.head },
      ]);
      expect(await bufferHead()).toBe(m1);
      // Retried: nothing changes; another stream cannot claim the same merge commit.
      expect((await call(author, 'PATCH', `/streams/${first.id}`, clone.report(m1))).status).toBe(200);
      expect(await merges(first.id)).toHaveLength(1);
    });

    it('a merge made on an old buffer is refused until made on the buffer head the server knows; a maintainer may report it', async () => {
      second = await approvedStream(author2, 'b.txt');
      const stale = clone.mergeIntoBuffer(second.head, base0);
      const refused = await call(author2, 'PATCH', `/streams/${second.id}`, clone.report(stale));
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({
        code: 'commit_mismatch',
        first_parent: base0,
        buffer_head: m1,
      });
      expect(await bufferHead()).toBe(m1);

      const decision = await call(maintainer, 'POST', `/streams/${second.id}/merge`, {});
      expect(decision.body).toMatchObject({ approved: true, buffer_head: m1, head_commit: second.head });
      m2 = clone.mergeIntoBuffer(second.head);
      expect(clone.git('rev-parse', `${m2}^1`)).toBe(m1);
      const byMaintainer = await call(maintainer, 'PATCH', `/streams/${second.id}`, clone.report(m2));
      expect(byMaintainer.status).toBe(200);
      expect(byMaintainer.body.stream.status).toBe('merged');
      expect(await bufferHead()).toBe(m2);
    });

    it('stabilization results need maintain+ and a buffer commit the server knows: an untested commit cannot open promote', async () => {
      const green = (commit: string) => ({ result: 'green', buffer_commit: commit, duration_ms: 10 });
      // The owner's promotion of the buffer head waits for a green result.
      const before = await call(owner, 'POST', `/repos/${repo.id}/promote`, { to_commit: m2 });
      expect(before.status).toBe(409);
      expect(before.body.error.code).toBe('not_green');

      // A bystander's and the author's green: 403, whatever the commit.
      for (const agent of [bystander, author2]) {
        const response = await call(agent, 'POST', `/repos/${repo.id}/stabilize`, green(m2));
        expect(response.status).toBe(403);
      }
      // A maintainer's green for commits the server does not know on the buffer: a stream head
      // (real, never merged as such), a made-up id, a merge the server refused.
      clone.git('checkout', '-q', `stream/${second.id}`);
      const untested = clone.commitFile('later.txt', 'later\n', 'Untested');
      for (const commit of [untested, sha(), second.head]) {
        const response = await call(maintainer, 'POST', `/repos/${repo.id}/stabilize`, green(commit));
        expect(response.status).toBe(409);
        expect(response.body.error).toMatchObject({ code: 'unknown_commit', buffer_head: m2 });
      }
      // A result must name the commit it tested.
      expect(
        (await call(maintainer, 'POST', `/repos/${repo.id}/stabilize`, { result: 'green' })).status,
      ).toBe(400);
      const history = await call(owner, 'GET', `/repos/${repo.id}/stabilize/history`);
      expect(history.body.stabilizations).toHaveLength(0);
      expect((await call(owner, 'POST', `/repos/${repo.id}/promote`, { to_commit: m2 })).status).toBe(409);
      expect((await call(owner, 'POST', `/repos/${repo.id}/promote`, { to_commit: untested })).status).toBe(
        409,
      );

      // The maintainer's green for the buffer head, and for an earlier buffer commit it knows.
      const recorded = await call(maintainer, 'POST', `/repos/${repo.id}/stabilize`, green(m2));
      expect(recorded.status).toBe(201);
      expect(recorded.body).toMatchObject({ promote: true, stabilization: { buffer_commit: m2 } });
      expect((await call(maintainer, 'POST', `/repos/${repo.id}/stabilize`, green(base0))).status).toBe(201);
      expect((await call(owner, 'POST', `/repos/${repo.id}/promote`, { to_commit: m2 })).status).toBe(201);
    });

    it("a red's culprit is a candidate: a task is filed only with the evidence recorded", async () => {
      const red = (stream: string, extra: Record<string, unknown> = {}) => ({
        result: 'red',
        buffer_commit: m2,
        breaking_stream_id: stream,
        ...extra,
      });
      expect((await call(bystander, 'POST', `/repos/${repo.id}/stabilize`, red(first.id))).status).toBe(403);

      // An innocent stream named for M2 (its merge is M1), even with M2's real first parent as passing.
      const innocent = await call(
        maintainer,
        'POST',
        `/repos/${repo.id}/stabilize`,
        red(first.id, { passing_commit: m1 }),
      );
      expect(innocent.status).toBe(201);
      expect(innocent.body).toMatchObject({
        task_id: null,
        culprit: { stream_id: first.id, status: 'suspected' },
        stabilization: { result: 'red', breaking_stream_id: null },
      });
      expect(innocent.body.stabilization.details.culprit).toMatchObject({ status: 'suspected' });
      expect(await criticalTasksOf(author.id)).toHaveLength(0);

      // The right stream without evidence that its merge's first parent passed, or with a wrong one.
      for (const extra of [{}, { passing_commit: base0 }, { passing_commit: sha() }]) {
        const response = await call(maintainer, 'POST', `/repos/${repo.id}/stabilize`, red(second.id, extra));
        expect(response.status).toBe(201);
        expect(response.body).toMatchObject({
          task_id: null,
          culprit: { stream_id: second.id, status: 'suspected' },
        });
      }
      expect(await criticalTasksOf(author2.id)).toHaveLength(0);

      // With the evidence: M2 failing, its first parent M1 passing in the same run.
      const confirmed = await call(
        maintainer,
        'POST',
        `/repos/${repo.id}/stabilize`,
        red(second.id, { passing_commit: m1 }),
      );
      expect(confirmed.status).toBe(201);
      expect(confirmed.body).toMatchObject({
        culprit: { stream_id: second.id, status: 'confirmed', reason: null },
        stabilization: { breaking_stream_id: second.id },
      });
      expect(confirmed.body.task_id).toEqual(expect.any(String));
      expect(await criticalTasksOf(author2.id)).toEqual([{ id: confirmed.body.task_id }]);
      expect(await criticalTasksOf(author.id)).toHaveLength(0);
    });

    it('a revert reported by a maintainer moves the buffer head the next merge is checked against', async () => {
      clone.git('checkout', '-q', 'buffer');
      clone.git('revert', '--no-edit', '-m', '1', m2);
      const revert = clone.git('rev-parse', 'HEAD');
      const reverted = await call(maintainer, 'PATCH', `/streams/${second.id}`, {
        status: 'reverted',
        revert_commit: revert,
      });
      expect(reverted.status).toBe(200);
      expect(await bufferHead()).toBe(revert);
      // The revert is a buffer commit the server knows: it can be tested.
      expect(
        (
          await call(maintainer, 'POST', `/repos/${repo.id}/stabilize`, {
            result: 'green',
            buffer_commit: revert,
          })
        ).status,
      ).toBe(201);
      const third = await approvedStream(author, 'c.txt');
      const onOld = clone.mergeIntoBuffer(third.head, m2);
      expect((await call(author, 'PATCH', `/streams/${third.id}`, clone.report(onOld))).status).toBe(409);
      const onRevert = clone.mergeIntoBuffer(third.head);
      expect((await call(author, 'PATCH', `/streams/${third.id}`, clone.report(onRevert))).status).toBe(200);
    });

    it('a buffer moved outside the reports is recorded by an admin only, with compare-and-swap', async () => {
      const known = (await call(author, 'GET', `/repos/${repo.id}/buffer-head`)).body.buffer_head;
      expect(known).toBe(await bufferHead());
      // Someone pushes to the buffer without a report; merges made on it do not tie.
      clone.git('checkout', '-q', 'buffer');
      const pushed = clone.commitFile('hotfix.txt', 'fix\n', 'Direct push');
      const fourth = await approvedStream(author, 'd.txt');
      const onPushed = clone.mergeIntoBuffer(fourth.head);
      expect((await call(author, 'PATCH', `/streams/${fourth.id}`, clone.report(onPushed))).status).toBe(409);

      const set = (agent: TestAgent, previous: string | null) =>
        call(agent, 'PUT', `/repos/${repo.id}/buffer-head`, { commit: pushed, previous });
      for (const agent of [author, maintainer]) expect((await set(agent, known)).status).toBe(403);
      const stale = await set(owner, m1);
      expect(stale.status).toBe(409);
      expect(stale.body.error).toMatchObject({ code: 'ref_moved', buffer_head: known });
      expect(await bufferHead()).toBe(known);
      expect((await set(owner, known)).body).toEqual({ buffer_head: pushed });
      const activity = await t.store.db
        .selectFrom('gitswarm_activity_log')
        .select(['agent_id', 'metadata'])
        .where('repo_id', '=', repo.id)
        .where('event_type', '=', 'buffer.head_set')
        .execute();
      expect(activity).toEqual([
        { agent_id: owner.id, metadata: { branch: 'buffer', previous: known, head: pushed } },
      ]);
      expect((await call(author, 'PATCH', `/streams/${fourth.id}`, clone.report(onPushed))).status).toBe(200);
    });

    it('a commit recorded after the approval is not the reviewed head: neither approved nor merged until reviewed again', async () => {
      const fifth = await approvedStream(author, 'e.txt');
      clone.git('checkout', '-q', `stream/${fifth.id}`);
      const later = clone.commitFile('e2.txt', 'unreviewed\n', 'After the approval');
      expect((await call(author, 'POST', `/streams/${fifth.id}/commits`, { commit: later })).status).toBe(
        201,
      );
      const decision = await call(author, 'POST', `/streams/${fifth.id}/merge`, {});
      expect(decision.status).toBe(409);
      // The approval was given on the earlier head: it is stale, so there is no consensus to merge on.
      expect(decision.body.error).toMatchObject({ code: 'no_consensus' });
      const merge = clone.mergeIntoBuffer(later);
      expect((await call(author, 'PATCH', `/streams/${fifth.id}`, clone.report(merge))).status).toBe(409);
      expect((await streamOf(fifth.id)).status).toBe('active');

      expect(
        (await call(maintainer, 'POST', `/streams/${fifth.id}/reviews`, { verdict: 'approve' })).status,
      ).toBe(201);
      expect((await call(author, 'POST', `/streams/${fifth.id}/merge`, {})).body).toMatchObject({
        approved: true,
        head_commit: later,
      });
      expect((await call(author, 'PATCH', `/streams/${fifth.id}`, clone.report(merge))).status).toBe(200);
    });
  });
}
