/**
 * GitHub webhook deliveries: the signature check over the raw body, deduplication by
 * X-GitHub-Delivery, and dispatch of each event to what it changes. Transport-free: the route
 * (server/routes/github-webhooks.ts) hands it the raw bytes and headers.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CoreDeps } from '../core/deps.js';
import { GitSwarmError } from '../errors.js';
import type { Repo } from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { applyInstallationEvent, type InstallationPayload } from './installations.js';
import {
  openPullRequestStream,
  type PullRequest,
  recordPullRequestClosed,
  recordPullRequestReady,
  recordPullRequestSync,
} from './pull-requests.js';
import { applyPushEvent, type PushPayload } from './pushes.js';
import { findLinkedRepo } from './repo-link.js';
import { applyReviewEvent, type ReviewPayload } from './reviews.js';
import type { GitHubUser } from './users.js';

/** GitHub caps webhook payloads at 25 MB; a larger body is not GitHub's (413). */
export const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

const SIGNATURE = /^sha256=([0-9a-f]{64})$/;

/**
 * How long a delivery id is remembered. GitHub redelivers on request for a few days; older
 * records are pruned as new deliveries arrive, so the table stays small.
 */
export const DELIVERY_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * Throws invalid_signature unless `header` (X-Hub-Signature-256) is `sha256=` and the hex
 * HMAC-SHA256 of exactly these bytes under `secret`, compared in constant time.
 */
export function verifyWebhookSignature(secret: string, rawBody: Buffer, header: string | undefined): void {
  const match = header === undefined ? null : SIGNATURE.exec(header.trim().toLowerCase());
  if (!match) {
    throw new GitSwarmError(
      'invalid_signature',
      header === undefined
        ? 'The delivery has no X-Hub-Signature-256 header.'
        : 'X-Hub-Signature-256 is not sha256=<64 hex digits>.',
    );
  }
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const given = Buffer.from(match[1] as string, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new GitSwarmError('invalid_signature', 'X-Hub-Signature-256 does not match the body.');
  }
}

export interface WebhookDelivery {
  /** X-GitHub-Delivery. */
  id: string;
  /** X-GitHub-Event. */
  event: string;
  payload: Record<string, unknown>;
}

export interface DeliveryResult {
  /** `handled`, `ignored: <why>`, or `duplicate` for a delivery handled before. */
  outcome: string;
  repo_id: string | null;
}

/**
 * Handles a verified delivery once: a delivery id seen before changes nothing (`duplicate`). A
 * delivery whose handling throws is forgotten again, so GitHub's redelivery retries it.
 */
export async function handleWebhookDelivery(
  deps: CoreDeps,
  delivery: WebhookDelivery,
): Promise<DeliveryResult> {
  const db = deps.store.db;
  const action = typeof delivery.payload.action === 'string' ? delivery.payload.action.slice(0, 60) : null;
  const claimed = await db
    .insertInto('gitswarm_github_deliveries')
    .values({
      delivery_id: delivery.id,
      event: delivery.event.slice(0, 60),
      action,
      repo_id: null,
      outcome: 'processing',
      received_at: isoNow(deps.clock),
    })
    .onConflict((oc) => oc.column('delivery_id').doNothing())
    .returning('delivery_id')
    .executeTakeFirst();
  if (!claimed) return { outcome: 'duplicate', repo_id: null };
  const horizon = new Date(deps.clock.now().getTime() - DELIVERY_RETENTION_MS).toISOString();
  await db.deleteFrom('gitswarm_github_deliveries').where('received_at', '<', horizon).execute();
  try {
    const result = await dispatch(deps, delivery);
    await db
      .updateTable('gitswarm_github_deliveries')
      .set({ outcome: result.outcome.slice(0, 200), repo_id: result.repo_id })
      .where('delivery_id', '=', delivery.id)
      .execute();
    return result;
  } catch (error) {
    await db.deleteFrom('gitswarm_github_deliveries').where('delivery_id', '=', delivery.id).execute();
    throw error;
  }
}

async function dispatch(deps: CoreDeps, delivery: WebhookDelivery): Promise<DeliveryResult> {
  const { event, payload } = delivery;
  if (event === 'ping') return { outcome: 'handled', repo_id: null };
  if (event === 'installation' || event === 'installation_repositories') {
    return {
      outcome: await applyInstallationEvent(deps, event, payload as InstallationPayload),
      repo_id: null,
    };
  }
  if (event !== 'pull_request' && event !== 'pull_request_review' && event !== 'push') {
    return { outcome: `ignored: event ${event} is not handled`, repo_id: null };
  }
  const fullName = (payload.repository as { full_name?: unknown } | undefined)?.full_name;
  if (typeof fullName !== 'string') return { outcome: 'ignored: no repository', repo_id: null };
  const repo = await findLinkedRepo(deps.store.db, fullName);
  if (!repo) return { outcome: `ignored: ${fullName} is not linked to a repository`, repo_id: null };
  if (repo.status !== 'active')
    return { outcome: `ignored: repository ${repo.name} is ${repo.status}`, repo_id: repo.id };
  return { outcome: await dispatchRepoEvent(deps, repo, event, payload), repo_id: repo.id };
}

async function dispatchRepoEvent(
  deps: CoreDeps,
  repo: Repo,
  event: 'pull_request' | 'pull_request_review' | 'push',
  payload: Record<string, unknown>,
): Promise<string> {
  if (event === 'push') {
    if (typeof payload.ref !== 'string' || typeof payload.after !== 'string') return 'ignored: no ref';
    return applyPushEvent(deps, repo, payload as unknown as PushPayload);
  }
  const pr = payload.pull_request as PullRequest | undefined;
  if (!pr || typeof pr.number !== 'number' || !pr.head || !pr.base || !pr.user)
    return 'ignored: no pull request';
  if (event === 'pull_request_review') {
    const review = payload.review as ReviewPayload['review'] | undefined;
    if (!review?.user || typeof review.state !== 'string') return 'ignored: no review';
    return applyReviewEvent(deps, repo, payload as unknown as ReviewPayload);
  }
  switch (payload.action) {
    case 'opened':
    case 'reopened':
      return (await openPullRequestStream(deps, repo, pr)).created
        ? 'handled'
        : 'ignored: stream already recorded';
    case 'synchronize':
      return recordPullRequestSync(deps, repo, pr);
    case 'ready_for_review':
      return recordPullRequestReady(deps, repo, pr);
    case 'closed':
      return recordPullRequestClosed(deps, repo, pr, payload.sender as GitHubUser | undefined);
    default:
      return `ignored: pull_request.${String(payload.action)}`;
  }
}
