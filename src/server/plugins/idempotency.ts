/**
 * Replay protection for retried writes. A write (POST, PUT, PATCH, DELETE) that carries an
 * `Idempotency-Key` header is recorded per agent in gitswarm_idempotency_keys:
 * - the same key with the same method, URL and body replays the stored status and body
 *   (header `idempotent-replayed: true`) without running the handler again;
 * - the same key with a different request is refused: 409 `idempotency_key_reused`;
 * - while the first request is still running, a second one is refused: 409 `invalid_state`.
 * Server errors (5xx) and rate-limit refusals are not stored, so a retry runs the request again.
 * Keys are 1-100 characters of letters, digits and `._:-`; requests without an agent are not tracked.
 * A key is remembered for 24 hours (older rows are swept now and then as new keys arrive).
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { GitSwarmError } from '../../errors.js';
import { isoNow } from '../../util/clock.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
const KEY_SHAPE = /^[A-Za-z0-9._:-]{1,100}$/;
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** A placeholder older than this belongs to a request that died; a retry may take it over. */
const ABANDONED_AFTER_MS = 60_000;
/** How long a key is remembered. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** Sweep expired keys once every this many new keys. */
const SWEEP_EVERY = 500;

interface Tracked {
  key: string;
}

const tracked = new WeakMap<FastifyRequest, Tracked>();

function requestHash(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`)
    .digest('hex');
}

async function idempotencyPlugin(app: FastifyInstance): Promise<void> {
  const db = () => app.deps.store.db;
  let newKeys = 0;

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
        created_at: now,
      })
      .onConflict((oc) => oc.column('key').doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) {
      tracked.set(request, { key });
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
        );
      }
      // Take over the placeholder of a request that never finished.
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
      tracked.set(request, { key });
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
    if (status >= 500 || status === 429) {
      await db().deleteFrom('gitswarm_idempotency_keys').where('key', '=', entry.key).execute();
      return payload;
    }
    const body = typeof payload === 'string' && payload.length > 0 ? payload : 'null';
    let stored = body;
    try {
      JSON.parse(body);
    } catch {
      stored = JSON.stringify(body);
    }
    await db()
      .updateTable('gitswarm_idempotency_keys')
      .set({ status_code: status, response: stored })
      .where('key', '=', entry.key)
      .execute();
    return payload;
  });
}

/** Honours `Idempotency-Key` on writes (see the module comment for the rules). */
export const idempotency = fp(idempotencyPlugin, {
  name: 'gitswarm-idempotency',
  fastify: '5.x',
  dependencies: ['gitswarm-core', 'gitswarm-auth'],
});
