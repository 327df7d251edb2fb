/**
 * Importing a Mode A repository into a server repository (core/repos/import.ts): batches of one kind
 * each, what the repository already holds of a list of ids, the import's state, and its finish.
 * Repository admins (its owner) and server admins only; the rules are the core's.
 */
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import {
  finishImport,
  type ImportCaller,
  importBatch,
  importStatus,
  knownImportIds,
} from '../../core/repos/import.js';
import { IMPORT_KINDS, type ImportBatch } from '../../core/repos/import-rows.js';
import { actingAgent } from '../plugins/auth.js';
import { Closed, errorResponses, IdParams, Nullable } from '../schemas.js';
import type { App } from '../types.js';
import { ImportBatchResultView, ImportStatusView, importBatchBody, KnownIdsBody } from './import-schemas.js';

/** Largest import batch body (a batch of activity rows with their metadata can be large). */
export const IMPORT_BODY_LIMIT = 8 * 1024 * 1024;

const IMPORT_DESCRIPTION =
  'Kinds go in this order: repo, agents, maintainers, access, tasks, streams, commits, reviews, merges, ' +
  'promotions, stabilizations, claims, budget, budget_transactions, council, council_members, proposals, votes, ' +
  'elections, candidates, election_votes, karma, stage_history, activity. Rows keep their Mode A ids: a batch ' +
  'sent again changes nothing (created 0). The first batch opens the import, only on a repository without ' +
  'history of its own (409 import_refused); then only the same agent adds to it until it is finished. Agents are ' +
  'created with the SHA-256 of a key the client made; the agent marked self is the caller. Rows may name only ' +
  'the caller and the agents the import created, and refer only to rows of this import. Karma rows must be ' +
  'earned by the imported merges and reviews; budget balances are recomputed from the imported ledger.';

/** POST /repos/:id/import/<kind>, /import/known, /import/finish and GET /repos/:id/import. */
export async function importRoutes(app: App): Promise<void> {
  const deps = app.deps;
  const callerOf = (request: FastifyRequest<{ Params: { id: string } }>): ImportCaller => {
    const actor = actingAgent(request);
    return { repoId: request.params.id, actor, serverAdmin: app.roles.isAdmin(actor) };
  };

  for (const kind of IMPORT_KINDS) {
    app.post(
      `/repos/:id/import/${kind}`,
      {
        bodyLimit: IMPORT_BODY_LIMIT,
        schema: {
          summary: `Import a batch of ${kind} rows of a Mode A repository (repository admin or server admin)`,
          description: IMPORT_DESCRIPTION,
          tags: ['import'],
          params: IdParams,
          body: importBatchBody(kind),
          response: { 200: ImportBatchResultView, ...errorResponses(400, 401, 403, 404, 409, 413) },
        },
      },
      async (request) =>
        importBatch(deps, {
          ...callerOf(request),
          // The body schema checked each row's shape for this kind.
          batch: { kind, rows: (request.body as { rows: unknown[] }).rows } as ImportBatch,
          mayCreateAgents: app.registrationMode === 'open' || app.roles.isAdmin(actingAgent(request)),
        }),
    );
  }

  app.post(
    '/repos/:id/import/known',
    {
      schema: {
        summary: 'Which of these ids of a kind the repository already holds from its import',
        tags: ['import'],
        params: IdParams,
        body: KnownIdsBody,
        response: {
          200: Closed({ known: Type.Array(Type.String()) }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => ({
      known: await knownImportIds(deps, { ...callerOf(request), ...request.body }),
    }),
  );

  app.get(
    '/repos/:id/import',
    {
      config: { auth: 'required' },
      schema: {
        summary: "The repository's import: who makes it, and whether it is finished (null when none)",
        tags: ['import'],
        params: IdParams,
        response: { 200: Closed({ import: Nullable(ImportStatusView) }), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => ({ import: await importStatus(deps, callerOf(request)) }),
  );

  app.post(
    '/repos/:id/import/finish',
    {
      schema: {
        summary: 'Finish the import: counts measured, repo.imported recorded, no more batches',
        tags: ['import'],
        params: IdParams,
        response: { 200: Closed({ import: ImportStatusView }), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => ({ import: await finishImport(deps, callerOf(request)) }),
  );
}
