/**
 * The Mode C files API over HTTP: reads and writes with ETags and If-Match, tree and status,
 * patches, who may write, the request limits, and every hostile input of the issue, each answered
 * with a 4xx while the repository stays sound (`git fsck`) and nothing in the data dir, inside the
 * worktree or outside it, changes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRepo } from '../../src/core/repos/repos.js';
import { gitOut } from '../../src/engine/git.js';
import { hostedWorktreeDir } from '../../src/hosting/config.js';
import { releaseStreamWorktree } from '../../src/hosting/stream-worktrees.js';
import { fsckClean, snapshotTree } from '../helpers/files-fixture.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import {
  createHostedRepo,
  createHostedStream,
  type FilesServer,
  rawRequest,
  startFilesServer,
} from './files-fixture.js';
import { callApi, createTestRepo, registerTestAgent, type TestAgent } from './helpers.js';

const MiB = 1024 * 1024;

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: files API`, () => {
    let t: FilesServer;
    let owner: TestAgent;
    let author: TestAgent;
    let maintainer: TestAgent;
    let other: TestAgent;
    let repo: { id: string; name: string; dir: string };
    let stream: { id: string; branch: string };
    let worktree: string;

    const put = (
      agent: TestAgent | null,
      path: string,
      body: Buffer | string,
      headers: Record<string, string> = {},
    ) =>
      rawRequest(t, {
        method: 'PUT',
        path: `/streams/${stream.id}/files/${path}`,
        headers: { 'content-type': 'application/octet-stream', ...(agent?.headers ?? {}), ...headers },
        body,
      });
    const get = (agent: TestAgent | null, path: string, headers: Record<string, string> = {}) =>
      rawRequest(t, {
        method: 'GET',
        path: `/streams/${stream.id}/files/${path}`,
        headers: { ...(agent?.headers ?? {}), ...headers },
      });
    const patch = (agent: TestAgent, text: string, streamId = stream.id) =>
      rawRequest(t, {
        method: 'POST',
        path: `/streams/${streamId}/patch`,
        headers: { 'content-type': 'text/x-diff', ...agent.headers },
        body: text,
      });

    /** Sends the request; expects the status (and code); checks git and the whole data dir are unchanged. */
    const expectRefused = async (
      send: () => Promise<{ status: number; json(): Record<string, unknown> }>,
      status: number | number[],
      code?: string | string[],
    ) => {
      const before = snapshotTree(t.dataDir);
      const response = await send();
      const statuses = Array.isArray(status) ? status : [status];
      expect(statuses, JSON.stringify(response.json())).toContain(response.status);
      if (code !== undefined) {
        const codes = Array.isArray(code) ? code : [code];
        expect(codes).toContain((response.json().error as { code: string }).code);
      }
      expect(snapshotTree(t.dataDir)).toEqual(before);
      await fsckClean(repo.dir);
      expect(readFileSync(join(t.outside, 'secret'), 'utf8')).toBe('do not touch\n');
      return response;
    };

    beforeAll(async () => {
      t = await startFilesServer(dialect);
      owner = await registerTestAgent(t.app);
      author = await registerTestAgent(t.app);
      maintainer = await registerTestAgent(t.app);
      other = await registerTestAgent(t.app);
      repo = await createHostedRepo(t, owner);
      await callApi(t.app, owner, {
        method: 'POST',
        url: `/repos/${repo.id}/maintainers`,
        payload: { agent_id: maintainer.id },
      });
      stream = await createHostedStream(t, repo, author);
      worktree = hostedWorktreeDir(t.app.hosting, repo.id, stream.id);
      // The first write creates the worktree; every refusal below is measured against it.
      expect((await put(author, 'src/first.txt', 'first\n')).status).toBe(201);
    });
    afterAll(async () => {
      await t?.close();
    });

    it('writes raw bytes and JSON (utf8, base64), reads them back with the blob id as ETag', async () => {
      const bytes = Buffer.from([0, 159, 146, 150, 10, 0, 255]);
      const written = await put(author, 'bin/data.bin', bytes);
      expect(written.status).toBe(201);
      const body = written.json();
      expect(body).toEqual({ path: 'bin/data.bin', blob: expect.stringMatching(/^[0-9a-f]{40}$/), size: 7 });
      expect(written.headers.etag).toBe(`"${body.blob}"`);
      const read = await get(author, 'bin/data.bin');
      expect(read.status).toBe(200);
      expect(read.body.equals(bytes)).toBe(true);
      expect(read.headers.etag).toBe(`"${body.blob}"`);
      expect(read.headers['content-type']).toBe('application/octet-stream');
      expect((await get(author, 'bin/data.bin', { 'if-none-match': `"${body.blob}"` })).status).toBe(304);

      const text = await callApi(t.app, author, {
        method: 'PUT',
        url: `/streams/${stream.id}/files/docs/note.md`,
        payload: { content: 'héllo\n' },
      });
      expect(text.status).toBe(201);
      expect(readFileSync(join(worktree, 'docs/note.md'), 'utf8')).toBe('héllo\n');
      const b64 = await callApi(t.app, author, {
        method: 'PUT',
        url: `/streams/${stream.id}/files/docs/note.md`,
        payload: { content: Buffer.from([1, 0, 2]).toString('base64'), encoding: 'base64' },
      });
      expect(b64.status).toBe(200);
      expect(b64.body.size).toBe(3);
      expect((await get(null, 'docs/note.md')).body.equals(Buffer.from([1, 0, 2]))).toBe(true);
      // text/plain is raw bytes on these routes, too.
      const plain = await put(author, 'plain.txt', 'as is', { 'content-type': 'text/plain' });
      expect(plain.status).toBe(201);
      expect(readFileSync(join(worktree, 'plain.txt'), 'utf8')).toBe('as is');
    });

    it('refuses bad JSON bodies: unknown fields, invalid base64', async () => {
      for (const payload of [
        { content: 'x', mode: '755' },
        { content: '@@@', encoding: 'base64' },
        { text: 'x' },
      ]) {
        await expectRefused(
          () =>
            callApi(t.app, author, { method: 'PUT', url: `/streams/${stream.id}/files/j.txt`, payload }).then(
              (r) => ({ status: r.status, json: () => r.body }),
            ),
          400,
          'invalid_input',
        );
      }
    });

    it('checks If-Match: a stale blob is 412 and changes nothing', async () => {
      const v1 = (await put(author, 'race.txt', 'v1\n')).json().blob as string;
      const v2 = await put(author, 'race.txt', 'v2\n', { 'if-match': `"${v1}"` });
      expect(v2.status).toBe(200);
      const stale = await expectRefused(
        () => put(author, 'race.txt', 'v3\n', { 'if-match': `"${v1}"` }),
        412,
        'precondition_failed',
      );
      expect(stale.json().error).toMatchObject({ current_blob: v2.json().blob });
      await expectRefused(() => put(author, 'new-only.txt', 'x', { 'if-match': '*' }), 412);
      await expectRefused(() => put(author, 'race.txt', 'x', { 'if-none-match': '*' }), 412);
      await expectRefused(
        () =>
          rawRequest(t, {
            method: 'DELETE',
            path: `/streams/${stream.id}/files/race.txt`,
            headers: { ...author.headers, 'if-match': `"${v1}"` },
          }),
        412,
      );
      expect(readFileSync(join(worktree, 'race.txt'), 'utf8')).toBe('v2\n');
    });

    it('lists the tree and the status against the last commit; deletes', async () => {
      await put(author, 'tree/a.txt', 'a\n');
      await put(author, 'README.md', 'changed\n');
      const tree = await callApi(t.app, author, {
        method: 'GET',
        url: `/streams/${stream.id}/tree?path=tree`,
      });
      expect(tree.status).toBe(200);
      expect(tree.body).toEqual({
        path: 'tree',
        entries: [
          { path: 'tree/a.txt', type: 'file', size: 2, blob: expect.stringMatching(/^[0-9a-f]{40}$/) },
        ],
      });
      const root = await callApi(t.app, null, { method: 'GET', url: `/streams/${stream.id}/tree` });
      expect(root.body.entries.map((e: { path: string }) => e.path)).toContain('README.md');
      expect(root.body.entries.find((e: { path: string }) => e.path === 'tree')).toEqual({
        path: 'tree',
        type: 'dir',
        size: null,
        blob: null,
      });
      const recursive = await callApi(t.app, null, {
        method: 'GET',
        url: `/streams/${stream.id}/tree?recursive=true`,
      });
      expect(recursive.body.entries.map((e: { path: string }) => e.path)).toContain('tree/a.txt');
      const deleted = await rawRequest(t, {
        method: 'DELETE',
        path: `/streams/${stream.id}/files/lines.txt`,
        headers: author.headers,
      });
      expect(deleted.status).toBe(200);
      expect(deleted.json()).toMatchObject({ path: 'lines.txt', deleted: true });
      const status = await callApi(t.app, author, { method: 'GET', url: `/streams/${stream.id}/status` });
      expect(status.status).toBe(200);
      expect(status.body.changes).toEqual(
        expect.arrayContaining([
          { path: 'README.md', change: 'modified' },
          { path: 'lines.txt', change: 'deleted' },
          { path: 'tree/a.txt', change: 'added' },
        ]),
      );
      expect((await get(author, 'lines.txt')).status).toBe(404);
      await expectRefused(
        () =>
          rawRequest(t, {
            method: 'DELETE',
            path: `/streams/${stream.id}/files/lines.txt`,
            headers: author.headers,
          }),
        404,
      );
    });

    it('applies a patch, and refuses one that does not apply naming its hunk, changing nothing', async () => {
      await put(author, 'p.txt', 'one\ntwo\nthree\n');
      const ok = await patch(
        author,
        'diff --git a/p.txt b/p.txt\n--- a/p.txt\n+++ b/p.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n',
      );
      expect(ok.status).toBe(200);
      expect(ok.json()).toEqual({ applied: true, paths: ['p.txt'] });
      expect(readFileSync(join(worktree, 'p.txt'), 'utf8')).toBe('one\nTWO\nthree\n');
      const rejected = await expectRefused(
        () =>
          patch(
            author,
            'diff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+x\n' +
              'diff --git a/p.txt b/p.txt\n--- a/p.txt\n+++ b/p.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n',
          ),
        409,
        'patch_rejected',
      );
      expect(rejected.json().error).toMatchObject({ hunks: [{ path: 'p.txt', line: 1 }] });
      expect(existsSync(join(worktree, 'new.txt'))).toBe(false);
      await expectRefused(
        () =>
          rawRequest(t, {
            method: 'POST',
            path: `/streams/${stream.id}/patch`,
            headers: { 'content-type': 'application/json', ...author.headers },
            body: '{"x":1}',
          }),
        415,
      );
    });

    describe('hostile input: each a 4xx, the repository sound, nothing touched', () => {
      it.each([
        ['../x', 'parent'],
        ['../../../outside/secret', 'parent to a real file'],
        ['%2e%2e/%2e%2e/%2e%2e/outside/secret', 'percent-encoded parent'],
        ['%2E%2E/x', 'percent-encoded parent, upper case'],
        ['a/%2e%2e/%2e%2e/x', 'parent after a component'],
        ['..%2f..%2f..%2foutside%2fsecret', 'encoded slashes'],
        ['%2Fetc%2Fpasswd', 'absolute'],
        [`%2F${'tmp'}%2Fgitswarm-evil`, 'absolute, tmp'],
        ['.git/config', '.git/config'],
        ['.git/hooks/pre-commit', 'a hook'],
        ['.GIT/config', 'upper case'],
        ['.git./config', 'trailing dot'],
        ['sub/.git/config', 'nested'],
        ['%2egit/config', 'encoded dot'],
        ['a%00b', 'NUL'],
        ['evil%0aname', 'newline'],
        ['evil%1b%5b31m', 'escape sequence'],
        ['evil%7f', 'DEL'],
        ['back%5c..%5c..%5cx', 'backslashes'],
      ])('PUT %s (%s)', async (path) => {
        await expectRefused(() => put(author, path, 'pwned\n'), 400);
        await expectRefused(() => get(author, path), [400, 404]);
      });

      it('an empty path and a malformed stream id: 400', async () => {
        await expectRefused(() => put(author, '', 'x'), 400, 'invalid_path');
        await expectRefused(() => put(author, '.', 'x'), 400, 'invalid_path');
        await expectRefused(
          () =>
            rawRequest(t, {
              method: 'PUT',
              path: '/streams/..%2f..%2fx/files/a.txt',
              headers: { 'content-type': 'text/plain', ...author.headers },
              body: 'x',
            }),
          400,
          'invalid_input',
        );
      });

      it('a name with control characters in JSON or raw: 400', async () => {
        await expectRefused(() => put(author, 'tab%09name', 'x'), 400, 'invalid_path');
        await expectRefused(() => put(author, 'bell%07', 'x'), 400, 'invalid_path');
      });

      it('a 20 MiB body (413 request limit) and an 11 MiB file (413 file limit)', async () => {
        const big = await expectRefused(
          () => put(author, 'big.bin', Buffer.alloc(20 * MiB, 1)),
          413,
          'payload_too_large',
        );
        expect(big.json().error).toBeDefined();
        await expectRefused(
          () => put(author, 'big.bin', Buffer.alloc(11 * MiB, 1)),
          413,
          'payload_too_large',
        );
        const json = JSON.stringify({ content: Buffer.alloc(11 * MiB, 2).toString('base64') }); // ~15 MiB
        await expectRefused(
          () => put(author, 'big.bin', json, { 'content-type': 'application/json' }),
          413,
          'payload_too_large',
        );
        expect(existsSync(join(worktree, 'big.bin'))).toBe(false);
      });

      it('the files routes take more than 1 MiB; the rest of the API does not', async () => {
        const two = await put(author, 'two-mib.bin', Buffer.alloc(2 * MiB, 3));
        expect(two.status).toBe(201);
        const elsewhere = await rawRequest(t, {
          method: 'POST',
          path: '/repos',
          headers: { 'content-type': 'application/json', ...owner.headers },
          body: JSON.stringify({ name: 'big', description: 'x'.repeat(2 * MiB) }),
        });
        expect(elsewhere.status).toBe(413);
        expect(elsewhere.json().error?.code).toBe('payload_too_large');
        const octet = await rawRequest(t, {
          method: 'POST',
          path: '/repos',
          headers: { 'content-type': 'application/octet-stream', ...owner.headers },
          body: 'x',
        });
        expect(octet.status).toBe(415);
      });

      it('a symlink written by a patch, then written through: refused by PUT, patch and DELETE', async () => {
        const link = `diff --git a/link b/link\nnew file mode 120000\n--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+${t.outside}\n\\ No newline at end of file\n`;
        expect((await patch(author, link)).status).toBe(200);
        const read = await get(author, 'link');
        expect(read.status).toBe(200);
        expect(read.headers['x-gitswarm-file-type']).toBe('symlink');
        expect(read.body.toString()).toBe(t.outside);
        await expectRefused(() => put(author, 'link/secret', 'pwned\n'), 400, 'invalid_path');
        await expectRefused(() => put(author, 'link/new.txt', 'pwned\n'), 400, 'invalid_path');
        await expectRefused(() => put(author, 'link', 'pwned\n'), 400, 'invalid_path');
        await expectRefused(() => get(author, 'link/secret'), 400, 'invalid_path');
        await expectRefused(
          () =>
            rawRequest(t, {
              method: 'DELETE',
              path: `/streams/${stream.id}/files/link/secret`,
              headers: author.headers,
            }),
          400,
        );
        await expectRefused(
          () =>
            patch(
              author,
              'diff --git a/link/secret b/link/secret\n--- a/link/secret\n+++ b/link/secret\n@@ -1 +1 @@\n-do not touch\n+pwned\n',
            ),
          400,
          'invalid_path',
        );
        await expectRefused(
          () =>
            callApi(t.app, author, { method: 'GET', url: `/streams/${stream.id}/tree?path=link` }).then(
              (r) => ({ status: r.status, json: () => r.body }),
            ),
          400,
        );
        expect(existsSync(join(t.outside, 'new.txt'))).toBe(false);
        // The link itself may be deleted (never its target).
        const removed = await rawRequest(t, {
          method: 'DELETE',
          path: `/streams/${stream.id}/files/link`,
          headers: author.headers,
        });
        expect(removed.status).toBe(200);
        expect(readFileSync(join(t.outside, 'secret'), 'utf8')).toBe('do not touch\n');
      });

      it.each([
        [
          '.git/config',
          'diff --git a/.git/config b/.git/config\n--- a/.git/config\n+++ b/.git/config\n@@ -1 +1,2 @@\n [core]\n+\thooksPath = /tmp\n',
        ],
        [
          '.git/hooks',
          'diff --git a/.git/hooks/post-commit b/.git/hooks/post-commit\nnew file mode 100755\n--- /dev/null\n+++ b/.git/hooks/post-commit\n@@ -0,0 +1 @@\n+#!/bin/sh\n',
        ],
        [
          'a rename into .git',
          'diff --git a/README.md b/.git/README.md\nsimilarity index 100%\nrename from README.md\nrename to .git/README.md\n',
        ],
        [
          '.GIT',
          'diff --git a/.GIT/x b/.GIT/x\nnew file mode 100644\n--- /dev/null\n+++ b/.GIT/x\n@@ -0,0 +1 @@\n+x\n',
        ],
        [
          '../',
          'diff --git a/../../../outside/secret b/../../../outside/secret\n--- a/../../../outside/secret\n+++ b/../../../outside/secret\n@@ -1 +1 @@\n-do not touch\n+pwned\n',
        ],
        ['an absolute path', `--- /dev/null\n+++ ${'/tmp'}/gitswarm-evil\n@@ -0,0 +1 @@\n+x\n`],
      ])('a patch touching %s', async (_name, text) => {
        await expectRefused(() => patch(author, text), [400, 409], ['invalid_path', 'patch_rejected']);
      });
    });

    describe('who may write', () => {
      it('the author and a maintainer write; another agent gets 403, no key 401; any reader reads', async () => {
        await expectRefused(() => put(other, 'theirs.txt', 'x'), 403, 'forbidden');
        await expectRefused(
          () =>
            rawRequest(t, {
              method: 'DELETE',
              path: `/streams/${stream.id}/files/src/first.txt`,
              headers: other.headers,
            }),
          403,
        );
        await expectRefused(
          () =>
            patch(
              other,
              'diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+x\n',
            ),
          403,
        );
        await expectRefused(() => put(null, 'anon.txt', 'x'), 401);
        expect((await put(maintainer, 'by-maintainer.txt', 'm\n')).status).toBe(201);
        expect((await get(other, 'by-maintainer.txt')).status).toBe(200);
        expect((await get(null, 'by-maintainer.txt')).status).toBe(200);
      });

      it('a private repository: outsiders read nothing', async () => {
        const hidden = await createHostedRepo(t, owner, { is_private: true });
        const theirs = await createHostedStream(t, hidden, owner);
        expect(
          (
            await rawRequest(t, {
              method: 'PUT',
              path: `/streams/${theirs.id}/files/a.txt`,
              headers: { 'content-type': 'text/plain', ...owner.headers },
              body: 'a',
            })
          ).status,
        ).toBe(201);
        const read = (agent: TestAgent | null) =>
          rawRequest(t, {
            method: 'GET',
            path: `/streams/${theirs.id}/files/a.txt`,
            headers: agent?.headers ?? {},
          });
        expect((await read(owner)).status).toBe(200);
        expect((await read(other)).status).toBe(403);
        expect((await read(null)).status).toBe(401);
      });

      it('a Mode B repository has no files: 409 with a hint', async () => {
        const modeB = await createTestRepo(t.app, owner);
        const s = await callApi(t.app, author, {
          method: 'POST',
          url: `/repos/${modeB.id}/streams`,
          payload: { id: 'mode-b-stream', name: 'b' },
        });
        const response = await rawRequest(t, {
          method: 'GET',
          path: `/streams/${s.body.stream.id}/files/README.md`,
          headers: author.headers,
        });
        expect(response.status).toBe(409);
        expect(response.json().error).toMatchObject({
          code: 'invalid_state',
          hint: expect.stringContaining('server_git'),
        });
        const write = await rawRequest(t, {
          method: 'PUT',
          path: `/streams/${s.body.stream.id}/files/x`,
          headers: { 'content-type': 'text/plain', ...author.headers },
          body: 'x',
        });
        expect(write.status).toBe(409);
      });
    });

    describe('with commits', () => {
      it('a commit takes the written files; the status is empty after, and the blob is the committed one', async () => {
        const own = await createHostedStream(t, repo, author);
        const send = (path: string, body: string) =>
          rawRequest(t, {
            method: 'PUT',
            path: `/streams/${own.id}/files/${path}`,
            headers: { 'content-type': 'text/plain', ...author.headers },
            body,
          });
        const written = (await send('lib/feature.ts', 'export const x = 1;\n')).json();
        const status = await callApi(t.app, author, { method: 'GET', url: `/streams/${own.id}/status` });
        expect(status.body.changes).toEqual([{ path: 'lib/feature.ts', change: 'added' }]);
        const commit = await callApi(t.app, author, {
          method: 'POST',
          url: `/streams/${own.id}/commits`,
          payload: { message: 'Add the feature' },
        });
        expect(commit.status).toBe(201);
        const after = await callApi(t.app, author, { method: 'GET', url: `/streams/${own.id}/status` });
        expect(after.body.changes).toEqual([]);
        const committed = await gitOut(['rev-parse', `${own.branch}:lib/feature.ts`], { cwd: repo.dir });
        expect(committed).toBe(written.blob);
        await fsckClean(repo.dir);
      });
    });

    describe('two agents, two streams', () => {
      it("never touch each other's files; concurrent writes to one worktree all land", async () => {
        const second = await createHostedStream(t, repo, other);
        const otherPut = (path: string, body: string) =>
          rawRequest(t, {
            method: 'PUT',
            path: `/streams/${second.id}/files/${path}`,
            headers: { 'content-type': 'text/plain', ...other.headers },
            body,
          });
        const results = await Promise.all([
          ...Array.from({ length: 8 }, (_, i) => put(author, `mine/${i}.txt`, `author ${i}\n`)),
          ...Array.from({ length: 8 }, (_, i) => otherPut(`mine/${i}.txt`, `other ${i}\n`)),
        ]);
        expect(results.map((r) => r.status)).toEqual(Array(16).fill(201));
        const secondDir = hostedWorktreeDir(t.app.hosting, repo.id, second.id);
        for (let i = 0; i < 8; i++) {
          expect(readFileSync(join(worktree, `mine/${i}.txt`), 'utf8')).toBe(`author ${i}\n`);
          expect(readFileSync(join(secondDir, `mine/${i}.txt`), 'utf8')).toBe(`other ${i}\n`);
        }
        expect(existsSync(join(secondDir, 'src/first.txt'))).toBe(false);
        const same = await Promise.all(
          Array.from({ length: 10 }, (_, i) => put(author, 'same.txt', `${i}\n`)),
        );
        expect(same.every((r) => r.status === 201 || r.status === 200)).toBe(true);
        expect(same.filter((r) => r.status === 201)).toHaveLength(1);
        await fsckClean(repo.dir);
      });
    });

    it('reads a stream whose worktree is gone from its branch head, and creates none (anyone may read)', async () => {
      const fresh = await createHostedStream(t, repo, other);
      const freshDir = hostedWorktreeDir(t.app.hosting, repo.id, fresh.id);
      // As after a merge, or when the pool reclaimed it.
      await releaseStreamWorktree(t.app.hosting, await getRepo(t.app.deps.store.db, repo.id), fresh.id);
      expect(existsSync(freshDir)).toBe(false);
      const read = await rawRequest(t, { method: 'GET', path: `/streams/${fresh.id}/files/lines.txt` });
      expect(read.status).toBe(200);
      expect(read.body.toString('utf8')).toBe('one\ntwo\nthree\nfour\nfive\n');
      const blob = (await gitOut(['rev-parse', `${fresh.branch}:lines.txt`], { cwd: repo.dir })).trim();
      expect(read.headers.etag).toBe(`"${blob}"`);
      const tree = await callApi(t.app, null, { method: 'GET', url: `/streams/${fresh.id}/tree` });
      expect(tree.status).toBe(200);
      expect(tree.body.entries).toEqual([
        { path: 'README.md', type: 'file', size: 6, blob: expect.stringMatching(/^[0-9a-f]{40}$/) },
        { path: 'lines.txt', type: 'file', size: 24, blob },
      ]);
      const status = await callApi(t.app, null, { method: 'GET', url: `/streams/${fresh.id}/status` });
      expect(status.body).toEqual({ changes: [] });
      expect(
        (await rawRequest(t, { method: 'GET', path: `/streams/${fresh.id}/files/missing.txt` })).status,
      ).toBe(404);
      expect(
        (await callApi(t.app, null, { method: 'GET', url: `/streams/${fresh.id}/tree?path=lines.txt` }))
          .status,
      ).toBe(400);
      expect(existsSync(freshDir)).toBe(false);
    });
  });
}
