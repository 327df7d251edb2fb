/**
 * Two server instances (this process and a child process running the built app) on one database
 * and one data dir: writes to one stream worktree are serialised by the repository's lock across
 * processes, so of many concurrent "create only" writes (If-None-Match: *) exactly one lands.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostedWorktreeDir } from '../../src/hosting/config.js';
import { bundledFixture } from '../helpers/bundled-fixture.js';
import { fsckClean } from '../helpers/files-fixture.js';
import { DIALECTS, dialectLabel, postgresServerSkipReason, withSkipReason } from '../helpers/store.js';
import {
  createHostedRepo,
  createHostedStream,
  type FilesServer,
  rawRequest,
  startFilesServer,
} from './files-fixture.js';
import { registerTestAgent, type TestAgent } from './helpers.js';

/** Starts the second instance; resolves with the child and its port. */
async function startSecondInstance(config: { location: string; schema?: string; dataDir: string }) {
  const fixture = await bundledFixture('files-server.mjs');
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [fixture, JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = /listening (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`second instance exited (${code}): ${stderr}`)));
  });
  return { child, port };
}

for (const dialect of DIALECTS) {
  // PGlite lives in one process: two processes need a real database server.
  const skip = postgresServerSkipReason(dialect);
  describe.skipIf(skip !== null)(
    withSkipReason(`${dialectLabel(dialect)}: files API on two server instances`, skip),
    () => {
      let t: FilesServer;
      let second: { child: ChildProcessWithoutNullStreams; port: number };
      let author: TestAgent;
      let repo: { id: string; dir: string };
      let stream: { id: string };

      beforeAll(async () => {
        t = await startFilesServer(dialect);
        second = await startSecondInstance({
          location: t.store.location,
          schema: t.store.schema,
          dataDir: t.dataDir,
        });
        author = await registerTestAgent(t.app);
        repo = await createHostedRepo(t, author);
        stream = await createHostedStream(t, repo, author);
      });
      afterAll(async () => {
        second?.child.kill('SIGTERM');
        await t?.close();
      });

      const putOn = (port: number, path: string, body: string, headers: Record<string, string> = {}) =>
        rawRequest(
          { ...t, port },
          {
            method: 'PUT',
            path: `/streams/${stream.id}/files/${path}`,
            headers: { 'content-type': 'text/plain', ...author.headers, ...headers },
            body,
          },
        );

      it('exactly one of many concurrent create-only writes lands, across both instances', async () => {
        const results = await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            putOn(i % 2 === 0 ? t.port : second.port, 'claim.txt', `writer ${i}\n`, { 'if-none-match': '*' }),
          ),
        );
        const statuses = results.map((r) => r.status).sort();
        expect(statuses).toEqual([201, ...Array(11).fill(412)]);
        const winner = results.findIndex((r) => r.status === 201);
        const worktree = hostedWorktreeDir(t.app.hosting, repo.id, stream.id);
        expect(readFileSync(join(worktree, 'claim.txt'), 'utf8')).toBe(`writer ${winner}\n`);
      });

      it('a chain of If-Match writes across both instances never loses an update', async () => {
        let blob = (await putOn(t.port, 'counter.txt', '0\n')).json().blob as string;
        for (let i = 1; i <= 6; i++) {
          // Two writers race on the same ETag: exactly one wins each round.
          const round = await Promise.all([
            putOn(t.port, 'counter.txt', `${i} a\n`, { 'if-match': `"${blob}"` }),
            putOn(second.port, 'counter.txt', `${i} b\n`, { 'if-match': `"${blob}"` }),
          ]);
          expect(round.map((r) => r.status).sort()).toEqual([200, 412]);
          blob = (round.find((r) => r.status === 200)?.json().blob as string) ?? blob;
        }
        await fsckClean(repo.dir);
      });
    },
  );
}
