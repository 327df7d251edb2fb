/**
 * Liveness and readiness: `/healthz` answers while the process serves requests; `/readyz` also
 * checks the database (`select 1`) and answers 503 when it cannot be reached.
 */
import { sql } from 'kysely';
import Type from 'typebox';
import { Closed } from '../schemas.js';
import type { App } from '../types.js';

/** GET /healthz and GET /readyz (not rate-limited, no key needed). */
export async function healthRoutes(app: App): Promise<void> {
  const config = { auth: 'none' as const, rateLimit: false as const };

  app.get(
    '/healthz',
    {
      config,
      schema: {
        summary: 'Liveness',
        tags: ['health'],
        response: { 200: Closed({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config,
      schema: {
        summary: 'Readiness: the database answers',
        tags: ['health'],
        response: {
          200: Closed({ status: Type.Literal('ready'), database: Type.String() }),
          503: Closed({
            status: Type.Literal('unavailable'),
            database: Type.String(),
            reason: Type.String(),
          }),
        },
      },
    },
    async (request, reply) => {
      const database = app.deps.store.capabilities.label;
      try {
        await sql`select 1`.execute(app.deps.store.db);
        return { status: 'ready' as const, database };
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed');
        reply.code(503);
        return { status: 'unavailable' as const, database, reason: 'The database did not answer.' };
      }
    },
  );
}
