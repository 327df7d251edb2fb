/**
 * GitHub proxies (spec section 5, "GitHub Integration"): a linked repository's file contents, tree
 * and commits on GitHub, read as the App's installation with conditional requests (an unchanged
 * answer costs GitHub no rate limit). Callers need an API key and read access to the repository.
 * 409 `github_not_linked` for an unlinked repository, 503 `github_not_configured` without an App,
 * 404 when GitHub has no such path or ref, 429 when GitHub's rate limit is used up.
 */

import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { GitHubResponse } from '../../github/client.js';
import { rememberInstallation } from '../../github/outbound.js';
import { listCommits, readContents, readTree, requireGitHub, requireLinked } from '../../github/proxies.js';
import { readableRepo } from '../route-helpers.js';
import { errorResponses, IdParams } from '../schemas.js';
import type { App } from '../types.js';

const GitHubAnswer = Type.Unknown({ description: "GitHub's answer, as GitHub gave it" });
const Ref = Type.String({ minLength: 1, maxLength: 255 });
const proxyErrors = errorResponses(400, 401, 403, 404, 409, 429, 502, 503);

/** GET /repos/:id/github/contents/*, /repos/:id/github/tree, /repos/:id/github/commits. */
export async function githubProxyRoutes(app: App): Promise<void> {
  const linked = async (request: FastifyRequest, repoId: string) => {
    const repo = await readableRepo(app.deps, request, repoId);
    const fullName = requireLinked(repo);
    const client = requireGitHub(app.githubClient);
    await rememberInstallation(app.deps, client, repo);
    return { client, fullName, repo };
  };
  const answer = (reply: FastifyReply, response: GitHubResponse) => {
    reply.header('x-github-cache', response.fromCache ? 'hit' : 'miss');
    return response.data;
  };

  app.get(
    '/repos/:id/github/contents/*',
    {
      config: { auth: 'required' },
      schema: {
        summary: "A file's or directory's contents on GitHub (GitHub's answer: base64 content, or a listing)",
        tags: ['github'],
        // The wildcard (the path, decoded by the router) passes unchecked by the schema: TypeBox cannot
        // convert a property named `*`; checkRepoPath checks it.
        params: Type.Object({ id: IdParams.properties.id }),
        querystring: Type.Object({ ref: Type.Optional(Ref) }, { additionalProperties: false }),
        response: { 200: GitHubAnswer, ...proxyErrors },
      },
    },
    async (request, reply) => {
      const { client, fullName } = await linked(request, request.params.id);
      const response = await readContents(client, fullName, {
        path: (request.params as { '*'?: string })['*'] ?? '',
        ...(request.query.ref ? { ref: request.query.ref } : {}),
      });
      return answer(reply, response);
    },
  );

  app.get(
    '/repos/:id/github/tree',
    {
      config: { auth: 'required' },
      schema: {
        summary:
          'The tree at a ref on GitHub (default: the promotion target branch), all of it with recursive',
        tags: ['github'],
        params: IdParams,
        querystring: Type.Object(
          { ref: Type.Optional(Ref), recursive: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        response: { 200: GitHubAnswer, ...proxyErrors },
      },
    },
    async (request, reply) => {
      const { client, fullName, repo } = await linked(request, request.params.id);
      const response = await readTree(client, fullName, {
        ref: request.query.ref ?? repo.promote_target,
        recursive: request.query.recursive === true,
      });
      return answer(reply, response);
    },
  );

  app.get(
    '/repos/:id/github/commits',
    {
      config: { auth: 'required' },
      schema: {
        summary: "Commits on GitHub, newest first (from ref, default GitHub's default branch; touching path)",
        tags: ['github'],
        params: IdParams,
        querystring: Type.Object(
          {
            ref: Type.Optional(Ref),
            path: Type.Optional(Type.String({ maxLength: 1000 })),
            per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
            page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: GitHubAnswer, ...proxyErrors },
      },
    },
    async (request, reply) => {
      const { client, fullName } = await linked(request, request.params.id);
      const { ref, path, per_page: perPage, page } = request.query;
      const response = await listCommits(client, fullName, {
        ...(ref ? { ref } : {}),
        ...(path ? { path } : {}),
        ...(perPage ? { perPage } : {}),
        ...(page ? { page } : {}),
      });
      return answer(reply, response);
    },
  );
}
