/**
 * The activity feed: every recorded event, newest first, globally or per repository, a page at a
 * time (`?limit` default 50, `?cursor`). Events of repositories the caller cannot read are left out.
 */
import Type from 'typebox';
import { listActivityPage } from '../../core/activity/activity.js';
import { EVENT_NAMES } from '../../core/activity/event-names.js';
import type { ActivityEntry, Repo } from '../../store/index.js';
import { canRead, readableRepo } from '../route-helpers.js';
import {
  ActivityView,
  Closed,
  errorResponses,
  IdParams,
  NextCursor,
  PageQuery,
  Timestamp,
} from '../schemas.js';
import type { App } from '../types.js';

const ActivityQuery = Closed({
  ...PageQuery,
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Page size (default 50)' })),
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
        response: {
          200: Closed({ activity: Type.Array(ActivityView), next_cursor: NextCursor }),
          ...errorResponses(400),
        },
      },
    },
    async (request) => {
      const { query } = request;
      // The cursor follows the rows read, so a page may hold fewer entries than the limit (or
      // none) where other repositories' events were left out; next_cursor still goes on.
      const page = await listActivityPage(
        deps.store.db,
        { afterCreatedAt: query.after, eventTypes: eventTypes(query.event_type) },
        { limit: query.limit, cursor: query.cursor },
      );
      const entries = page.rows;
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
      return { activity, next_cursor: page.nextCursor };
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
        response: {
          200: Closed({ activity: Type.Array(ActivityView), next_cursor: NextCursor }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const { query } = request;
      const repo = await readableRepo(deps, request, request.params.id);
      const page = await listActivityPage(
        deps.store.db,
        { repoId: repo.id, afterCreatedAt: query.after, eventTypes: eventTypes(query.event_type) },
        { limit: query.limit, cursor: query.cursor },
      );
      return { activity: page.rows, next_cursor: page.nextCursor };
    },
  );
}
