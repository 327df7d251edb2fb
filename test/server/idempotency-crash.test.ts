/**
 * Idempotency is atomic with the write: a keyed deposit whose server process is killed (SIGKILL)
 * after the deposit committed and before the response was stored. The retry must not deposit again:
 * it is refused while the first attempt could still be running, then answers with the deposit that
 * committed, and the balance moved once.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { ABANDONED_AFTER_MS } from '../../src/server/plugins/idempotency.js';
import { bundledFixture } from '../helpers/bundled-fixture.js';
import { DIALECTS, dialectLabel, postgresServerSkipReason, withSkipReason } from '../helpers/store.js';
import { createTestRepo, registerTestAgent, startTestApp, type TestAgent, type TestApp } from './helpers.js';

/** Starts the fixture server; resolves with the child, its port and a reader of its next line. */
async function startServerProcess(config: { location: string; schema?: string }) {
  const fixture = await bundledFixture('idempotency-crash-server.mjs');
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [fixture, JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let buffered = '';
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const line = lines.shift();
      if (line !== undefined) return resolve(line);
      waiters.push(resolve);
      child.once('exit', (code) => reject(new Error(`server exited (${code}): ${stderr}`)));
    });
  const listening = await nextLine();
  const port = Number(/^listening (\d+)$/.exec(listening)?.[1]);
  if (!port) throw new Error(`server said ${JSON.stringify(listening)}: ${stderr}`);
  return { child, port, nextLine };
}

for (const dialect of DIALECTS) {
  // PGlite lives in one process: the crash needs a store two processes can open.
  const skip = postgresServerSkipReason(dialect);
  describe.skipIf(skip !== null)(
    withSkipReason(`${dialectLabel(dialect)}: Idempotency-Key across a kill -9`, skip),
    () => {
      let t: TestApp;
      let owner: TestAgent;
      let repoId: string;
      beforeAll(async () => {
        t = await startTestApp(dialect);
        owner = await registerTestAgent(t.app);
        repoId = (await createTestRepo(t.app, owner)).id;
      });
      afterAll(async () => {
        await t?.close();
      });

      const balance = async () =>
        (
          await t.store.db
            .selectFrom('gitswarm_repo_budgets')
            .select('total_credits')
            .where('repo_id', '=', repoId)
            .executeTakeFirst()
        )?.total_credits ?? 0;
      const deposits = async () =>
        t.store.db
          .selectFrom('gitswarm_budget_transactions')
          .innerJoin(
            'gitswarm_repo_budgets',
            'gitswarm_repo_budgets.id',
            'gitswarm_budget_transactions.budget_id',
          )
          .select(['gitswarm_budget_transactions.id', 'amount'])
          .where('gitswarm_repo_budgets.repo_id', '=', repoId)
          .where('type', '=', 'deposit')
          .execute();

      it('a deposit committed before the crash is not made again by the retry', async () => {
        const server = await startServerProcess({ location: t.store.location, schema: t.store.schema });
        const request = {
          method: 'POST' as const,
          url: `/api/v1/repos/${repoId}/budget/deposit`,
          headers: { ...owner.headers, 'content-type': 'application/json', 'idempotency-key': 'deposit-1' },
          payload: { amount: 7 },
        };
        const sent = fetch(`http://127.0.0.1:${server.port}${request.url}`, {
          method: 'POST',
          headers: request.headers,
          body: JSON.stringify(request.payload),
        }).then(
          () => 'answered',
          () => 'connection lost',
        );
        expect(await server.nextLine()).toBe('committed');
        const exited = once(server.child, 'exit');
        server.child.kill('SIGKILL');
        const [, signal] = await exited;
        expect(signal).toBe('SIGKILL');
        expect(await sent).toBe('connection lost');

        // The deposit committed, and so did its record in the key's journal.
        expect(await balance()).toBe(7);
        const [committed] = await deposits();
        const key = await t.store.db
          .selectFrom('gitswarm_idempotency_keys')
          .selectAll()
          .where('key', '=', `${owner.id}:deposit-1`)
          .executeTakeFirstOrThrow();
        expect(key.status_code).toBe(0);
        expect(key.effects).toHaveLength(1);

        // A retry at once could race a first attempt that is merely slow: refused, nothing written.
        const early = await t.app.inject(request);
        expect(early.statusCode).toBe(409);
        expect(early.json().error.code).toBe('invalid_state');
        expect(await balance()).toBe(7);

        // Once the first attempt is abandoned, a retry (on another server) answers with its deposit.
        const later = await buildApp({
          store: t.store,
          rateLimit: false,
          notifications: false,
          clock: { now: () => new Date(Date.now() + ABANDONED_AFTER_MS + 1000) },
        });
        try {
          const retried = await later.inject(request);
          expect(retried.statusCode).toBe(201);
          expect(retried.headers['idempotent-replayed']).toBe('true');
          expect(retried.json().transaction.id).toBe(committed?.id);
          expect(retried.json().budget.total_credits).toBe(7);
          const again = await later.inject(request);
          expect(again.statusCode).toBe(201);
          expect(again.json()).toEqual(retried.json());
        } finally {
          await later.close();
        }
        expect(await balance()).toBe(7);
        expect(await deposits()).toHaveLength(1);
      });

      it('without the journal the same crash would have deposited twice (the window is real)', async () => {
        // The same kill, then the key's row is deleted, as a store without the journal would leave
        // nothing to replay: the retry deposits again. This shows the test above guards a real window.
        const server = await startServerProcess({ location: t.store.location, schema: t.store.schema });
        const url = `/api/v1/repos/${repoId}/budget/deposit`;
        const headers = {
          ...owner.headers,
          'content-type': 'application/json',
          'idempotency-key': 'deposit-2',
        };
        const sent = fetch(`http://127.0.0.1:${server.port}${url}`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ amount: 5 }),
        }).catch(() => undefined);
        expect(await server.nextLine()).toBe('committed');
        const exited = once(server.child, 'exit');
        server.child.kill('SIGKILL');
        await exited;
        await sent;
        const before = await balance();
        await t.store.db
          .deleteFrom('gitswarm_idempotency_keys')
          .where('key', '=', `${owner.id}:deposit-2`)
          .execute();
        const retried = await t.app.inject({ method: 'POST', url, headers, payload: { amount: 5 } });
        expect(retried.statusCode).toBe(201);
        expect(await balance()).toBe(before + 5);
      });
    },
  );
}
