/**
 * Replay protection for retried writes. A write (POST, PUT, PATCH, DELETE) that carries an
 * `Idempotency-Key` header is recorded per agent in gitswarm_idempotency_keys:
 * - the same key with the same method, URL and body replays the stored status and body
 *   (header `idempotent-replayed: true`) without running the handler again;
 * - the same key with a different request is refused: 409 `idempotency_key_reused`;
 * - while the first request is still running, a second one is refused: 409 `invalid_state`.
 *
 * Atomic with the write: every transaction the handler runs writes its result into the key's row
 * (`effects`) in that same transaction (a journal, store/transaction.ts). So whenever a write has
 * committed, the key knows it. If the process dies after a commit and before the response is
 * stored, the key stays "running" with its effects; once it is abandoned (60 s), a retry takes it
 * over and runs the handler again with those transactions replayed from the journal instead of
 * run: the write happens once, and the answer is built from the recorded results.
 *
 * Server errors (5xx) and rate-limit refusals are not stored: a retry runs the request again (with
 * the effects that did commit replayed). Keys are 1-100 characters of letters, digits and `._:-`;
 * requests without an agent are not tracked. A key is remembered for 24 hours (older rows are swept
 * now and then as new keys arrive).
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, RouteHandlerMethod } from 'fastify';
import fp from 'fastify-plugin';
import { GitSwarmError } from '../../errors.js';
import { type TransactionJournal, toJson, withTransactionJournal } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
const KEY_SHAPE = /^[A-Za-z0-9._:-]{1,100}$/;
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** A placeholder older than this belongs to a request that died; a retry may take it over. */
export const ABANDONED_AFTER_MS = 60_000;
/** How long a key is remembered. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** Sweep expired keys once every this many new keys. */
const SWEEP_EVERY = 500;

interface Tracked {
  key: string;
  /** The row's `created_at` when this request took it: the request's claim on the key. */
  token: string;
  journal: Journal;
}

/** The effects journal of one request: replays what an earlier attempt committed, records the rest. */
class Journal implements TransactionJournal {
  readonly effects: unknown[];
  #next = 0;
  constructor(
    private readonly key: string,
    private readonly token: () => string,
    committed: readonly unknown[],
  ) {
    this.effects = [...committed];
  }
  replay(): { result: unknown } | undefined {
    if (this.#next >= this.effects.length) return undefined;
    const result = this.effects[this.#next];
    this.#next += 1;
    return { result };
  }
  async record(trx: Parameters<TransactionJournal['record']>[0], result: unknown): Promise<void> {
    const effects = [...this.effects, result === undefined ? null : result];
    const updated = await trx
      .updateTable('gitswarm_idempotency_keys')
      .set({ effects: toJson(effects) })
      .where('key', '=', this.key)
      .where('created_at', '=', this.token())
      .where('status_code', '=', 0)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) {
      // Another attempt took the key over: this one must not commit a second effect.
      throw new GitSwarmError('invalid_state', 'A retry with this Idempotency-Key took the request over.');
    }
    // What a replay would see: the stored JSON, not live objects.
    this.effects.push(JSON.parse(toJson(result)));
    this.#next = this.effects.length;
  }
}

const tracked = new WeakMap<FastifyRequest, Tracked>();

function requestHash(request: FastifyRequest): string {
  const hash = createHash('sha256').update(`${request.method} ${request.url}\n`);
  // Raw bodies (the files API) are hashed as bytes, not as a JSON rendering of a Buffer.
  if (request.body instanceof Uint8Array) hash.update('raw:').update(request.body);
  else hash.update(JSON.stringify(request.body ?? null));
  return hash.digest('hex');
}

function effectsOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

async function idempotencyPlugin(app: FastifyInstance): Promise<void> {
  const db = () => app.deps.store.db;
  let newKeys = 0;

  const track = (request: FastifyRequest, key: string, token: string, committed: readonly unknown[]) => {
    const entry: Tracked = { key, token, journal: new Journal(key, () => entry.token, committed) };
    tracked.set(request, entry);
  };

  // Every write handler runs inside its request's journal (when the request is tracked).
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.some((method) => WRITE_METHODS.has(method))) return;
    const handler = route.handler as RouteHandlerMethod;
    route.handler = function journaled(this: FastifyInstance, request, reply) {
      const entry = tracked.get(request);
      if (!entry) return handler.call(this, request, reply);
      return withTransactionJournal(entry.journal, () => handler.call(this, request, reply));
    } as RouteHandlerMethod;
  });

  app.addHook('preHandler', async (request, reply) => {
    const header = request.headers[IDEMPOTENCY_HEADER];
    if (header === undefined || !WRITE_METHODS.has(request.method)) return;
    if (request.routeOptions.config?.idempotent === false || !request.agent) return;
    if (typeof header !== 'string' || !KEY_SHAPE.test(header)) {
      throw new GitSwarmError(
        'invalid_input',
        'The Idempotency-Key header must be 1-100 letters, digits, ".", "_", ":" or "-".',
      );
    }
    const key = `${request.agent.id}:${header}`;
    const hash = requestHash(request);
    const now = isoNow(app.deps.clock);
    const inserted = await db()
      .insertInto('gitswarm_idempotency_keys')
      .values({
        key,
        agent_id: request.agent.id,
        request_hash: hash,
        status_code: 0,
        response: 'null',
        effects: null,
        created_at: now,
      })
      .onConflict((oc) => oc.column('key').doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) {
      track(request, key, now, []);
      newKeys += 1;
      if (newKeys % SWEEP_EVERY === 0) {
        const cutoff = new Date(Date.parse(now) - IDEMPOTENCY_TTL_MS).toISOString();
        await db().deleteFrom('gitswarm_idempotency_keys').where('created_at', '<', cutoff).execute();
      }
      return;
    }
    const row = await db()
      .selectFrom('gitswarm_idempotency_keys')
      .selectAll()
      .where('key', '=', key)
      .executeTakeFirst();
    if (!row)
      throw new GitSwarmError('invalid_state', 'The Idempotency-Key was released; retry the request.');
    if (row.request_hash !== hash) {
      throw new GitSwarmError(
        'idempotency_key_reused',
        'This Idempotency-Key was used for a different request.',
      );
    }
    if (row.status_code === 0) {
      const abandoned = Date.parse(now) - Date.parse(row.created_at) > ABANDONED_AFTER_MS;
      if (!abandoned) {
        throw new GitSwarmError(
          'invalid_state',
          'A request with this Idempotency-Key is still running; retry shortly.',
          { hint: `A request that died is taken over by a retry after ${ABANDONED_AFTER_MS / 1000} s.` },
        );
      }
      // Take over the key of a request that never finished; what it committed is replayed.
      const taken = await db()
        .updateTable('gitswarm_idempotency_keys')
        .set({ created_at: now })
        .where('key', '=', key)
        .where('status_code', '=', 0)
        .where('created_at', '=', row.created_at)
        .executeTakeFirst();
      if (Number(taken.numUpdatedRows) === 0) {
        throw new GitSwarmError('invalid_state', 'A request with this Idempotency-Key is still running.');
      }
      track(request, key, now, effectsOf(row.effects));
      if (row.effects) reply.header('idempotent-replayed', 'true');
      return;
    }
    reply.header('idempotent-replayed', 'true');
    reply.code(row.status_code);
    return reply.send(row.response);
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const entry = tracked.get(request);
    if (!entry) return payload;
    tracked.delete(request);
    const status = reply.statusCode;
    const mine = () =>
      db()
        .updateTable('gitswarm_idempotency_keys')
        .where('key', '=', entry.key)
        .where('created_at', '=', entry.token)
        .where('status_code', '=', 0);
    if (status >= 500 || status === 429) {
      if (entry.journal.effects.length > 0) {
        // Something committed: keep the journal, and let the next retry take the key over at once.
        const released = Date.parse(isoNow(app.deps.clock)) - ABANDONED_AFTER_MS - 1;
        await mine()
          .set({ created_at: new Date(released).toISOString() })
          .execute();
      } else {
        await db()
          .deleteFrom('gitswarm_idempotency_keys')
          .where('key', '=', entry.key)
          .where('created_at', '=', entry.token)
          .where('status_code', '=', 0)
          .execute();
      }
      return payload;
    }
    const body = typeof payload === 'string' && payload.length > 0 ? payload : 'null';
    let stored = body;
    try {
      JSON.parse(body);
    } catch {
      stored = JSON.stringify(body);
    }
    await mine().set({ status_code: status, response: stored }).execute();
    return payload;
  });
}

/** Honours `Idempotency-Key` on writes (see the module comment for the rules). */
export const idempotency = fp(idempotencyPlugin, {
  name: 'gitswarm-idempotency',
  fastify: '5.x',
  dependencies: ['gitswarm-core', 'gitswarm-auth'],
});
