/**
 * TypeBox shapes shared by several route areas: the error document, ids, and the public views of
 * agents and repositories. Area-specific shapes live beside their routes in routes/<area>.ts.
 * Every object is closed (`additionalProperties: false`): unknown body fields are refused, and
 * responses never carry a column they did not declare (an agent's key hash, a webhook secret).
 */
import Type, { type Static, type TSchema } from 'typebox';

/** `T | null`. */
export function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

/** A closed object: unknown properties are refused (bodies) or dropped (responses). */
export function Closed<P extends Parameters<typeof Type.Object>[0]>(
  properties: P,
  options: { description?: string; $id?: string } = {},
) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

export const Timestamp = Type.String({ description: 'ISO 8601 UTC timestamp' });
export const Id = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]*$' });
export const Metadata = Type.Record(Type.String(), Type.Unknown());

/** `?limit=N&cursor=C` of the paginated lists (src/core/pagination.ts). */
export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Page size (default 100)' })),
  cursor: Type.Optional(
    Type.String({ description: 'next_cursor of the previous page; 400 invalid_cursor if altered' }),
  ),
};

/** The cursor of the next page in a paginated list's answer. */
export const NextCursor = Nullable(
  Type.String({ description: 'Pass as ?cursor= for the next page; null on the last page' }),
);

export const ErrorResponse = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.String({ description: 'Stable snake_case code (docs/errors.md)' }),
        message: Type.String(),
        hint: Type.Optional(Type.String()),
      },
      { additionalProperties: true },
    ),
  },
  { description: 'Every failure: {error: {code, message, hint?, ...details}}' },
);

/** The error responses a route may give, for the OpenAPI document. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorResponse> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorResponse]));
}

export const IdParams = Closed({ id: Id });

export const LimitQuery = Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 }));

export const AgentView = Closed({
  id: Type.String(),
  name: Type.String(),
  description: Nullable(Type.String()),
  karma: Type.Number(),
  is_human: Type.Boolean(),
  status: Type.String(),
  avatar_url: Nullable(Type.String()),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type AgentViewT = Static<typeof AgentView>;

export const RepoView = Closed({
  id: Type.String(),
  org_id: Nullable(Type.String()),
  name: Type.String(),
  description: Nullable(Type.String()),
  github_full_name: Nullable(Type.String()),
  clone_url: Nullable(Type.String()),
  merge_mode: Type.String(),
  ownership_model: Type.String(),
  consensus_threshold: Type.Number(),
  min_reviews: Type.Number(),
  human_review_weight: Type.Number(),
  agent_access: Type.String(),
  min_karma: Type.Number(),
  is_private: Type.Boolean(),
  buffer_branch: Type.String(),
  promote_target: Type.String(),
  auto_promote_on_green: Type.Boolean(),
  auto_revert_on_red: Type.Boolean(),
  stabilize_command: Nullable(Type.String()),
  stabilize_timeout_seconds: Type.Number(),
  stabilize_memory_mb: Type.Number(),
  sandbox: Type.String(),
  max_auto_reverts_per_day: Type.Number(),
  stale_reviews: Type.String(),
  stage: Type.String(),
  contributor_count: Type.Number(),
  patch_count: Type.Number(),
  status: Type.String(),
  server_git: Type.Boolean({
    description: 'Mode C: the server holds this repository’s git (docs/mode-c.md); false: Mode B',
  }),
  upstream: Type.Optional(
    Closed(
      {
        status: Type.Union([Type.Literal('ok'), Type.Literal('pending'), Type.Literal('failing')]),
        last_error: Nullable(Type.String()),
        attempts: Type.Integer({ description: 'Failed pushes since the last one that went through' }),
        next_at: Nullable(Timestamp),
      },
      { description: 'Mode C with remote_url: how pushing the buffer and main there fares' },
    ),
  ),
  metadata: Metadata,
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const ActivityView = Closed({
  id: Type.String(),
  repo_id: Nullable(Type.String()),
  agent_id: Nullable(Type.String()),
  event_type: Type.String(),
  target_type: Nullable(Type.String()),
  target_id: Nullable(Type.String()),
  metadata: Metadata,
  created_at: Timestamp,
});

export const OkResponse = Closed({ ok: Type.Literal(true) });
