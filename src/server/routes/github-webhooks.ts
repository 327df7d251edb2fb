/**
 * POST /webhooks/github: GitHub's deliveries to the App (docs/github.md). The body is taken as raw
 * bytes by a JSON parser scoped to this plugin, so the signature is checked over exactly what
 * GitHub signed before anything is parsed; then the delivery is handled once (github/
 * webhook-receiver.ts). Without a webhook secret the route refuses every delivery (503).
 */
import Type from 'typebox';
import { GitSwarmError } from '../../errors.js';
import {
  handleWebhookDelivery,
  MAX_WEBHOOK_BYTES,
  verifyWebhookSignature,
} from '../../github/webhook-receiver.js';
import { Closed, errorResponses } from '../schemas.js';
import type { App } from '../types.js';

export interface GitHubWebhookRoutesOptions {
  /** GITHUB_WEBHOOK_SECRET; null or absent: deliveries are refused with 503 github_not_configured. */
  webhookSecret?: string | null;
}

const DeliveryAnswer = Closed({
  ok: Type.Literal(true),
  delivery_id: Type.String(),
  outcome: Type.String({ description: 'handled, duplicate (delivered before), or ignored: <why>' }),
});

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export async function githubWebhookRoutes(app: App, options: GitHubWebhookRoutesOptions): Promise<void> {
  // Scoped to this plugin: elsewhere JSON bodies are parsed as usual.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: MAX_WEBHOOK_BYTES },
    (_req, body, done) => done(null, body),
  );

  app.post(
    '/webhooks/github',
    {
      bodyLimit: MAX_WEBHOOK_BYTES,
      config: { auth: 'none' },
      schema: {
        summary: 'GitHub webhook receiver (signed with GITHUB_WEBHOOK_SECRET)',
        description:
          'Verifies X-Hub-Signature-256 over the raw body, handles each X-GitHub-Delivery once, and applies ' +
          'pull_request, pull_request_review, push, installation and installation_repositories events. ' +
          '200 when handled or already handled; 202 when acknowledged and ignored (unknown event, unlinked repository).',
        tags: ['github'],
        response: {
          200: DeliveryAnswer,
          202: DeliveryAnswer,
          ...errorResponses(400, 401, 413, 415, 503),
        },
      },
    },
    async (request, reply) => {
      const secret = options.webhookSecret ?? null;
      if (!secret) {
        throw new GitSwarmError(
          'github_not_configured',
          'This server has no GitHub webhook secret; it accepts no deliveries.',
        );
      }
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      verifyWebhookSignature(secret, raw, header(request.headers['x-hub-signature-256']));
      const deliveryId = header(request.headers['x-github-delivery']);
      const event = header(request.headers['x-github-event']);
      if (!deliveryId || deliveryId.length > 100 || !event) {
        throw new GitSwarmError(
          'invalid_input',
          'A delivery names itself in X-GitHub-Delivery and X-GitHub-Event.',
        );
      }
      let payload: unknown;
      try {
        payload = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new GitSwarmError('invalid_input', 'The delivery body is not JSON.');
      }
      if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
        throw new GitSwarmError('invalid_input', 'The delivery body is not a JSON object.');
      }
      const result = await handleWebhookDelivery(app.deps, {
        id: deliveryId,
        event,
        payload: payload as Record<string, unknown>,
      });
      request.log.info(
        { delivery: deliveryId, event, outcome: result.outcome, repo_id: result.repo_id },
        'github delivery',
      );
      reply.code(result.outcome.startsWith('ignored') ? 202 : 200);
      return { ok: true as const, delivery_id: deliveryId, outcome: result.outcome };
    },
  );
}
