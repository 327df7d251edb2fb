/**
 * `GET /api/v1/repos/:id/clone-url`: where `git clone` reads a server-held repository (Mode C),
 * served read-only by src/hosting/git-http.ts. The URL is built from the configured public URL
 * (GITSWARM_PUBLIC_URL, for a server behind a proxy that rewrites hosts) or else from the
 * request's own protocol and host (X-Forwarded-Proto and -Host count only with trustProxy).
 */
import Type from 'typebox';
import { GitSwarmError } from '../../errors.js';
import { rememberInstallation } from '../../github/outbound.js';
import { requireGitHub, toGitSwarmError } from '../../github/proxies.js';
import { gitCloneUrl } from '../../hosting/git-http.js';
import { readableRepo } from '../route-helpers.js';
import { Closed, errorResponses, IdParams, Timestamp } from '../schemas.js';
import type { App } from '../types.js';

export interface CloneRoutesOptions {
  /** The server's public base URL (GITSWARM_PUBLIC_URL); default: the request's protocol and host. */
  publicUrl?: string;
}

/** A public base URL, checked: http(s), no query or fragment; trailing slashes dropped. */
export function normalizePublicUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new GitSwarmError('invalid_input', `The public URL ${JSON.stringify(value)} is not a URL.`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username) {
    throw new GitSwarmError(
      'invalid_input',
      `The public URL ${JSON.stringify(value)} must be http(s)://host[:port][/path], without query or credentials.`,
    );
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

/** GET /repos/:id/clone-url. */
export async function cloneRoutes(app: App, options: CloneRoutesOptions): Promise<void> {
  const publicUrl = options.publicUrl ? normalizePublicUrl(options.publicUrl) : null;

  app.get(
    '/repos/:id/clone-url',
    {
      schema: {
        summary: 'The URL to git clone a server-held repository from (read-only smart HTTP)',
        description:
          'git clone <url> (a private repository: git -c http.extraHeader="Authorization: Bearer KEY" ' +
          'clone <url>, or the key as the HTTP Basic password). Pushes to it are refused; write through ' +
          'the files API. A repository linked to GitHub (github_full_name) whose git the server does not hold: ' +
          'https://x-access-token:<token>@<host>/<owner>/<name>.git with a short-lived installation token of the ' +
          'GitHub App (expires_at), for agents who may read the repository (an API key is required; 503 ' +
          'github_not_configured without an App). 409 invalid_state for a repository neither held nor linked.',
        tags: ['repos'],
        params: IdParams,
        response: {
          200: Closed({
            url: Type.String({ description: '<base>/git/<repoId>.git, or the GitHub URL with a token' }),
            expires_at: Type.Optional(Timestamp),
          }),
          ...errorResponses(401, 403, 404, 409, 502, 503),
        },
      },
    },
    async (request) => {
      const repo = await readableRepo(app.deps, request, request.params.id);
      if (!repo.server_git && repo.github_full_name) {
        // A credential in the answer: only for an agent known by its key, never anonymous readers.
        if (!request.agent) {
          throw new GitSwarmError('unauthorized', 'A GitHub clone URL carries a token; send an API key.');
        }
        const client = requireGitHub(app.githubClient);
        await rememberInstallation(app.deps, client, repo);
        const fullName = repo.github_full_name;
        let token: { token: string; expiresAt: string };
        try {
          token = await client.installationToken(await client.installationIdFor(fullName));
        } catch (error) {
          throw toGitSwarmError(error, `the App's installation on ${fullName}`);
        }
        const base = new URL(client.gitBaseUrl);
        return {
          url: `${base.protocol}//x-access-token:${token.token}@${base.host}/${fullName}.git`,
          expires_at: token.expiresAt,
        };
      }
      if (!repo.server_git) {
        throw new GitSwarmError('invalid_state', `This server does not hold repository ${repo.name}'s git.`, {
          hint: 'Its agents hold its git (Mode B); clone it from where they push it. Create a server-held one with POST /api/v1/repos {server_git: true}.',
        });
      }
      const base = publicUrl ?? `${request.protocol}://${request.host}`;
      return { url: gitCloneUrl(base, repo.id) };
    },
  );
}
