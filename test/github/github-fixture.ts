/**
 * What the GitHub tests share: GitHub's own example webhook payloads (@octokit/webhooks-examples)
 * and the HMAC signature GitHub puts on a delivery.
 */
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';

// biome-ignore lint/suspicious/noExplicitAny: GitHub's payloads, edited field by field
export type Json = Record<string, any>;

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as {
  name: string;
  examples: Json[];
}[];

/** A copy of GitHub's first example of `event` with `action` (any action when undefined). */
export function example(event: string, action?: string): Json {
  const found = examples
    .find((e) => e.name === event)
    ?.examples.find((x) => action === undefined || x.action === action);
  if (!found) throw new Error(`no example of ${event}.${action}`);
  return structuredClone(found);
}

/** The `x-hub-signature-256` header GitHub sends for `body` under `secret`. */
export function sign(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** GitHub's pull_request example for `action`, pointed at PR `number` of `fullName` (base: the buffer). */
export function pullRequestPayload(
  pr: { fullName: string; number: number; head: string; author: Json },
  action: string,
  extra: Json = {},
): Json {
  const p = example('pull_request', action);
  p.repository.full_name = pr.fullName;
  p.number = pr.number;
  Object.assign(p.pull_request, {
    number: pr.number,
    html_url: `https://github.com/${pr.fullName}/pull/${pr.number}`,
    user: { ...p.pull_request.user, ...pr.author },
    draft: false,
    ...extra,
  });
  p.pull_request.head = { ...p.pull_request.head, ref: `feature-${pr.number}`, sha: pr.head };
  p.pull_request.base = { ...p.pull_request.base, ref: 'buffer' };
  return p;
}
