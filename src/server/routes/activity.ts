/**
 * The activity feed: every recorded event, newest first, globally or per repository. Events of
 * repositories the caller cannot read are left out.
 */
import Type from 'typebox';
import { listActivity } from '../../core/activity.js';
import { EVENT_NAMES } from '../../core/event-names.js';
import type { ActivityEntry, Repo } from '../../store/index.js';
import { canRead, readableRepo } from '../route-helpers.js';
import { ActivityView, Closed, errorResponses, IdParams, Timestamp } from '../schemas.js';
import type { App } from '../types.js';

const ActivityQuery = Closed({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  after: Type.Optional(Timestamp),
  event_type: Type.Optional(
    Type.Union([
      Type.String({ maxLength: 100 }),
      Type.Array(Type.String({ maxLength: 100 }), { maxItems: EVENT_NAMES.length }),
    ]),
  ),
});

function eventTypes(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value : value.split(',')).map((v) => v.trim()).filter(Boolean);
}

/** GET /activity and GET /repos/:id/activity. */
export async function activityRoutes(app: App): Promise<void> {
  const deps = app.deps;

  app.get(
    '/activity',
    {
      schema: {
        summary: 'Activity feed across the repositories the caller can read',
        tags: ['activity'],
        querystring: ActivityQuery,
        response: { 200: Closed({ activity: Type.Array(ActivityView) }), ...errorResponses(400) },
      },
    },
    async (request) => {
      const entries = await listActivity(deps.store.db, {
        limit: request.query.limit,
        afterCreatedAt: request.query.after,
        eventTypes: eventTypes(request.query.event_type),
      });
      const readable = new Map<string, boolean>();
      const activity: ActivityEntry[] = [];
      for (const entry of entries) {
        if (entry.repo_id) {
          let ok = readable.get(entry.repo_id);
          if (ok === undefined) {
            const repo = (await deps.store.db
              .selectFrom('gitswarm_repos')
              .selectAll()
              .where('id', '=', entry.repo_id)
              .executeTakeFirst()) as Repo | undefined;
            ok = repo ? await canRead(deps, request.agent, repo) : false;
            readable.set(entry.repo_id, ok);
          }
          if (!ok) continue;
        }
        activity.push(entry);
      }
      return { activity };
    },
  );

  app.get(
    '/repos/:id/activity',
    {
      schema: {
        summary: "A repository's activity",
        tags: ['activity'],
        params: IdParams,
        querystring: ActivityQuery,
        response: { 200: Closed({ activity: Type.Array(ActivityView) }), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      return {
        activity: await listActivity(deps.store.db, {
          repoId: repo.id,
          limit: request.query.limit,
          afterCreatedAt: request.query.after,
          eventTypes: eventTypes(request.query.event_type),
        }),
      };
    },
  );
}
