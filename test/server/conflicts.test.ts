/**
 * Conflict resolution over HTTP, end to end (Mode C): two agents edit the same line on two streams of
 * a server-held repository; the second merge is refused with the paths; the agent reads base, ours
 * and theirs, updates its stream (markers in the file), writes the resolution, commits and merges.
 * Also a binary conflict (base64), a deleted side (null), a conflict handed to another agent as a task,
 * and the refusals.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newStreamId } from '../../src/util/ids.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import {
  callApi,
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './helpers.js';

const LINES = 'one\ntwo\nthree\nfour\nfive\n';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: Mode C conflicts over HTTP`, () => {
    let t: TestApp;
    let dataDir: string;
    let owner: TestAgent;
    let alice: TestAgent;
    let bob: TestAgent;
    let carol: TestAgent;
    const call = (agent: TestAgent | null, method: string, url: string, payload?: unknown) =>
      callApi(t.app, agent, { method, url, payload });

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'gitswarm-conflicts-'));
      t = await startTestApp(dialect, { hosting: { dataDir } });
      owner = await registerTestAgent(t.app);
      alice = await registerTestAgent(t.app);
      bob = await registerTestAgent(t.app);
      carol = await registerTestAgent(t.app);
    });
    afterAll(async () => {
      await t.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    async function serverRepo(settings: Record<string, unknown>) {
      return createTestRepo(t.app, owner, { server_git: true, ...settings });
    }

    async function newStream(agent: TestAgent, repoId: string): Promise<string> {
      const created = await call(agent, 'POST', `/repos/${repoId}/streams`, {});
      expect(created.status).toBe(201);
      return created.body.stream.id as string;
    }

    async function put(agent: TestAgent, streamId: string, path: string, content: string | Buffer) {
      const body =
        typeof content === 'string'
          ? { content, encoding: 'utf8' }
          : { content: content.toString('base64'), encoding: 'base64' };
      const written = await call(agent, 'PUT', `/streams/${streamId}/files/${path}`, body);
      expect(written.status, JSON.stringify(written.body)).toBeLessThan(300);
    }

    async function readFile(agent: TestAgent, streamId: string, path: string): Promise<Buffer> {
      const response = await t.app.inject({
        method: 'GET',
        url: `/api/v1/streams/${streamId}/files/${path}`,
        headers: agent.headers,
      });
      expect(response.statusCode).toBe(200);
      return response.rawPayload;
    }

    async function commit(agent: TestAgent, streamId: string, message: string) {
      return call(agent, 'POST', `/streams/${streamId}/commits`, { message });
    }

    /** Approves (the owner reviews) and merges; returns the merge answer. */
    async function approveAndMerge(agent: TestAgent, streamId: string) {
      const review = await call(owner, 'POST', `/streams/${streamId}/reviews`, { verdict: 'approve' });
      expect(review.status, JSON.stringify(review.body)).toBeLessThan(300);
      return call(agent, 'POST', `/streams/${streamId}/merge`, {});
    }

    /** A review-mode server repository whose buffer holds `files`, and two streams from it. */
    async function twoStreams(files: Record<string, string | Buffer>) {
      const repo = await serverRepo({ merge_mode: 'review', ownership_model: 'guild', min_reviews: 1 });
      const seed = await newStream(alice, repo.id);
      for (const [path, content] of Object.entries(files)) await put(alice, seed, path, content);
      expect((await commit(alice, seed, 'Seed')).status).toBe(201);
      const seeded = await approveAndMerge(alice, seed);
      expect(seeded.status, JSON.stringify(seeded.body)).toBe(200);
      return { repo, a: await newStream(alice, repo.id), b: await newStream(bob, repo.id) };
    }

    it('resolves a same-line conflict: 409 with paths, base/ours/theirs, markers, resolution, merge', async () => {
      const { a, b } = await twoStreams({ 'lines.txt': LINES });
      await put(alice, a, 'lines.txt', LINES.replace('one', 'ONE-alice'));
      await put(bob, b, 'lines.txt', LINES.replace('one', 'ONE-bob'));
      expect((await commit(alice, a, 'Alice edits line one')).status).toBe(201);
      const bobCommit = await commit(bob, b, 'Bob edits line one');
      expect(bobCommit.status).toBe(201);
      expect((await approveAndMerge(alice, a)).body).toMatchObject({ merged: true });

      const refused = await approveAndMerge(bob, b);
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({ code: 'conflict', paths: ['lines.txt'] });
      expect(refused.body.error.hint).toContain(`POST /api/v1/streams/${b}/update`);
      expect((await call(bob, 'GET', `/streams/${b}`)).body.stream).toMatchObject({
        status: 'conflicted',
        conflict: { operation: 'merge', paths: ['lines.txt'] },
      });

      const conflicts = await call(bob, 'GET', `/streams/${b}/conflicts`);
      expect(conflicts.status).toBe(200);
      expect(conflicts.body).toMatchObject({
        stream_id: b,
        status: 'conflicted',
        head: bobCommit.body.commit,
        onto_branch: 'buffer',
      });
      expect(conflicts.body.paths).toEqual([
        {
          path: 'lines.txt',
          encoding: 'utf8',
          base: LINES,
          ours: LINES.replace('one', 'ONE-bob'),
          theirs: LINES.replace('one', 'ONE-alice'),
          modes: { base: '100644', ours: '100644', theirs: '100644' },
          sizes: { base: LINES.length, ours: LINES.length + 4, theirs: LINES.length + 6 },
          omitted: [],
        },
      ]);
      // Anyone who may read the repository may read its conflicts.
      expect((await call(carol, 'GET', `/streams/${b}/conflicts`)).status).toBe(200);

      // Only the author, a maintainer or the conflict task's claimant updates the stream.
      const forbidden = await call(carol, 'POST', `/streams/${b}/update`, {});
      expect(forbidden.status).toBe(403);
      expect(forbidden.body.error.code).toBe('forbidden');

      const updated = await call(bob, 'POST', `/streams/${b}/update`, {});
      expect(updated.status).toBe(200);
      expect(updated.body).toEqual({
        stream_id: b,
        outcome: 'conflicted',
        status: 'conflicted',
        head: bobCommit.body.commit,
        onto: conflicts.body.onto,
        onto_branch: 'buffer',
        paths: ['lines.txt'],
      });
      const marked = (await readFile(bob, b, 'lines.txt')).toString('utf8');
      expect(marked).toMatch(/^<<<<<<< HEAD\nONE-bob\n=======\nONE-alice\n>>>>>>> [^\n]+\ntwo\n/);
      // A retried update answers the same.
      expect((await call(bob, 'POST', `/streams/${b}/update`, {})).body).toEqual(updated.body);
      // Committing the markers as they are is refused.
      const early = await commit(bob, b, 'Not resolved yet');
      expect(early.status).toBe(409);
      expect(early.body.error.code).toBe('conflict');

      await put(bob, b, 'lines.txt', LINES.replace('one', 'ONE-alice-and-bob'));
      const resolved = await commit(bob, b, 'Resolve line one');
      expect(resolved.status, JSON.stringify(resolved.body)).toBe(201);
      const stream = (await call(bob, 'GET', `/streams/${b}`)).body.stream;
      expect(stream.conflict).toBeNull();
      expect(['active', 'in_review']).toContain(stream.status);
      expect((await call(bob, 'GET', `/streams/${b}/conflicts`)).body.paths).toEqual([]);

      const merged = await approveAndMerge(bob, b);
      expect(merged.status, JSON.stringify(merged.body)).toBe(200);
      expect(merged.body).toMatchObject({ merged: true });
      // The buffer holds the resolution: a new stream starts from it.
      const after = await newStream(carol, (await call(bob, 'GET', `/streams/${b}`)).body.stream.repo_id);
      expect((await readFile(carol, after, 'lines.txt')).toString('utf8')).toBe(
        LINES.replace('one', 'ONE-alice-and-bob'),
      );
    });

    it('gives a binary conflict as base64 and a deleted side as null, and resolves both', async () => {
      const base = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0x01]);
      const { a, b, repo } = await twoStreams({ 'logo.png': base, 'notes.txt': 'notes\n' });
      const mine = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0x02]);
      const yours = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0x03]);
      await put(alice, a, 'logo.png', yours);
      expect((await call(alice, 'DELETE', `/streams/${a}/files/notes.txt`)).status).toBeLessThan(300);
      await put(bob, b, 'logo.png', mine);
      await put(bob, b, 'notes.txt', 'notes, edited by bob\n');
      expect((await commit(alice, a, 'Alice: new logo, no notes')).status).toBe(201);
      expect((await commit(bob, b, 'Bob: new logo, better notes')).status).toBe(201);
      expect((await approveAndMerge(alice, a)).status).toBe(200);
      const refused = await approveAndMerge(bob, b);
      expect(refused.status).toBe(409);

      const { body } = await call(bob, 'GET', `/streams/${b}/conflicts`);
      expect(body.paths).toHaveLength(2);
      expect(body.paths[0]).toMatchObject({
        path: 'logo.png',
        encoding: 'base64',
        base: base.toString('base64'),
        ours: mine.toString('base64'),
        theirs: yours.toString('base64'),
      });
      expect(body.paths[1]).toMatchObject({
        path: 'notes.txt',
        encoding: 'utf8',
        base: 'notes\n',
        ours: 'notes, edited by bob\n',
        theirs: null,
        modes: { theirs: null },
      });

      const updated = await call(bob, 'POST', `/streams/${b}/update`, {});
      expect(updated.body).toMatchObject({ outcome: 'conflicted', paths: ['logo.png', 'notes.txt'] });
      // The binary file keeps the stream's side in the worktree; the agent writes the one it wants.
      expect(await readFile(bob, b, 'logo.png')).toEqual(mine);
      await put(bob, b, 'logo.png', yours);
      await put(bob, b, 'notes.txt', 'notes, kept by bob\n');
      expect((await commit(bob, b, 'Take the new logo, keep the notes')).status).toBe(201);
      expect((await approveAndMerge(bob, b)).body).toMatchObject({ merged: true });
      const after = await newStream(carol, repo.id);
      expect(await readFile(carol, after, 'logo.png')).toEqual(yours);
      expect((await readFile(carol, after, 'notes.txt')).toString('utf8')).toBe('notes, kept by bob\n');
    });

    it('hands an unresolved conflict to another agent as a task; its claimant resolves it', async () => {
      const { a, b } = await twoStreams({ 'lines.txt': LINES });
      await put(alice, a, 'lines.txt', LINES.replace('two', 'TWO-alice'));
      await put(bob, b, 'lines.txt', LINES.replace('two', 'TWO-bob'));
      expect((await commit(alice, a, 'Alice')).status).toBe(201);
      expect((await commit(bob, b, 'Bob')).status).toBe(201);
      expect((await approveAndMerge(alice, a)).status).toBe(200);
      expect((await approveAndMerge(bob, b)).status).toBe(409);

      // Not a maintainer: refused. The owner (admin) files it.
      const notMaintainer = await call(bob, 'POST', `/streams/${b}/conflicts/task`, {});
      expect(notMaintainer.status).toBe(403);
      const filed = await call(owner, 'POST', `/streams/${b}/conflicts/task`, {
        assignee: carol.name,
        priority: 'high',
      });
      expect(filed.status, JSON.stringify(filed.body)).toBe(201);
      expect(filed.body.task).toMatchObject({
        status: 'open',
        priority: 'high',
        assigned_to: carol.id,
        labels: ['conflict'],
      });
      expect(filed.body.task.description).toContain('- lines.txt');
      expect(filed.body.stream.metadata.conflict_task_id).toBe(filed.body.task.id);
      const again = await call(owner, 'POST', `/streams/${b}/conflicts/task`, {});
      expect(again.status).toBe(409);

      // Before claiming, carol may not touch the stream.
      const early = await call(carol, 'PUT', `/streams/${b}/files/lines.txt`, { content: 'x\n' });
      expect(early.status).toBe(403);
      expect((await call(carol, 'POST', `/streams/${b}/update`, {})).status).toBe(403);

      const claim = await call(carol, 'POST', `/tasks/${filed.body.task.id}/claim`, {});
      expect(claim.status, JSON.stringify(claim.body)).toBeLessThan(300);
      const conflicts = await call(carol, 'GET', `/streams/${b}/conflicts`);
      expect(conflicts.body.paths[0]).toMatchObject({
        path: 'lines.txt',
        ours: LINES.replace('two', 'TWO-bob'),
        theirs: LINES.replace('two', 'TWO-alice'),
      });
      expect((await call(carol, 'POST', `/streams/${b}/update`, {})).body).toMatchObject({
        outcome: 'conflicted',
      });
      await put(carol, b, 'lines.txt', LINES.replace('two', 'TWO-both'));
      const resolved = await commit(carol, b, 'Resolve line two for bob');
      expect(resolved.status, JSON.stringify(resolved.body)).toBe(201);
      expect((await call(bob, 'GET', `/streams/${b}`)).body.stream.conflict).toBeNull();
      expect((await approveAndMerge(bob, b)).body).toMatchObject({ merged: true });
    });

    it('commits a clean update at once; refuses Mode B repositories and streams without a conflict', async () => {
      const { a, b } = await twoStreams({ 'a.txt': 'a\n', 'b.txt': 'b\n' });
      await put(alice, a, 'a.txt', 'A\n');
      await put(bob, b, 'b.txt', 'B\n');
      expect((await commit(alice, a, 'Alice')).status).toBe(201);
      expect((await commit(bob, b, 'Bob')).status).toBe(201);
      expect((await approveAndMerge(alice, a)).status).toBe(200);
      const updated = await call(bob, 'POST', `/streams/${b}/update`, {});
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ outcome: 'merged', status: expect.any(String) });
      expect(updated.body.change_id).toMatch(/^I[0-9a-f]{40}$/);
      expect((await readFile(bob, b, 'a.txt')).toString('utf8')).toBe('A\n');
      expect((await call(bob, 'POST', `/streams/${b}/update`, {})).body.outcome).toBe('up_to_date');
      const noConflict = await call(owner, 'POST', `/streams/${b}/conflicts/task`, {});
      expect(noConflict.status).toBe(409);
      expect(noConflict.body.error.code).toBe('invalid_state');

      const modeB = await createTestRepo(t.app, owner);
      const streamB = await call(bob, 'POST', `/repos/${modeB.id}/streams`, { id: newStreamId(), name: 'b' });
      expect(streamB.status, JSON.stringify(streamB.body)).toBe(201);
      const refused = await call(bob, 'GET', `/streams/${streamB.body.stream.id}/conflicts`);
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('invalid_state');
      expect((await call(bob, 'POST', `/streams/${streamB.body.stream.id}/update`, {})).status).toBe(409);
    });
  });
}
