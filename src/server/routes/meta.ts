/**
 * `GET /api/v1/meta`: what this server is, for a Mode B client to check before it trusts it. A
 * client refuses a server whose `name` is not gitswarm or whose `api_version` it does not speak
 * (src/remote/client.ts); the number changes only when an existing route changes incompatibly.
 */
import Type from 'typebox';
import { packageVersion } from '../../util/package-version.js';
import { Closed } from '../schemas.js';
import type { App } from '../types.js';

/** The API version this server speaks; bump only for incompatible changes to existing routes. */
export const API_VERSION = 1;

/** GET /meta (no key needed, not rate-limited). */
export async function metaRoutes(app: App): Promise<void> {
  app.get(
    '/meta',
    {
      config: { auth: 'none', rateLimit: false },
      schema: {
        summary: 'What this server is: name, version and API version (no key needed)',
        tags: ['health'],
        response: {
          200: Closed({
            name: Type.Literal('gitswarm'),
            version: Type.String({ description: 'The server package version' }),
            api_version: Type.Integer({
              description: 'The API version; clients refuse one they do not speak',
            }),
            api_prefix: Type.String(),
            websocket: Type.String({ description: 'Path of the live activity WebSocket' }),
          }),
        },
      },
    },
    async () => ({
      name: 'gitswarm' as const,
      version: packageVersion(),
      api_version: API_VERSION,
      api_prefix: '/api/v1',
      websocket: '/api/v1/ws',
    }),
  );
}
