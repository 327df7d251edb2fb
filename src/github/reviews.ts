/**
 * Reviews given on GitHub as human reviews of the pull request's stream: approved → approve,
 * changes_requested → request_changes, commented → comment, through the core's submitReview (the
 * same self-review, access and live-stream rules as any review; the reviewer's agent is human, so
 * consensus weighs it by human_review_weight in the open model). A dismissed review is withdrawn.
 *
 * Who counts: on a public GitHub repository anyone may leave a review, so only reviewers GitHub
 * names as the repository's OWNER, MEMBER or COLLABORATOR, or GitHub users an operator mapped to
 * an agent, give verdicts; other reviews are acknowledged and ignored.
 *
 * A review counts for the code it was given on: the PR head in its payload is recorded first (a
 * synchronize delivered late changes nothing then), and a review of an older commit than that
 * head is acknowledged and ignored.
 *
 * A review of a pull request not seen yet (the repository linked after it was opened, or the
 * opened delivery lost) records the stream from the pull request in the review's payload first.
 */
import type { CoreDeps } from '../core/deps.js';
import { submitReview, withdrawReview } from '../core/streams/reviews.js';
import { isLiveStream } from '../core/streams/streams.js';
import { isGitSwarmError } from '../errors.js';
import type { Repo, ReviewVerdict } from '../store/index.js';
import {
  findPullRequestStream,
  openPullRequestStream,
  type PullRequest,
  recordPullRequestSync,
} from './pull-requests.js';
import { agentForGitHubUser, findMappedAgent, type GitHubUser } from './users.js';

/** The parts of GitHub's pull_request_review payload read here. */
export interface ReviewPayload {
  action: string;
  review: {
    id: number;
    state: string;
    body?: string | null;
    user: GitHubUser;
    author_association?: string;
    /** The commit the review was given on. */
    commit_id?: string | null;
  };
  pull_request: PullRequest;
}

const VERDICTS: Record<string, ReviewVerdict> = {
  approved: 'approve',
  changes_requested: 'request_changes',
  commented: 'comment',
};

/** GitHub's author associations that say the reviewer works on the repository. */
const TRUSTED_ASSOCIATIONS = new Set(['OWNER', 'MEMBER', 'COLLABORATOR']);

const MAX_FEEDBACK = 10_000;

/** Applies a pull_request_review event; returns what it did. */
export async function applyReviewEvent(deps: CoreDeps, repo: Repo, payload: ReviewPayload): Promise<string> {
  const { review, pull_request: pr } = payload;
  const trusted =
    TRUSTED_ASSOCIATIONS.has(review.author_association ?? '') ||
    (await findMappedAgent(deps, review.user)) !== undefined;
  if (!trusted) return `ignored: reviewer ${review.user.login} is not a collaborator`;
  const reviewer = await agentForGitHubUser(deps, review.user);
  let stream = await findPullRequestStream(deps.store.db, repo.id, pr.number);
  if (payload.action === 'dismissed') {
    if (!stream) return `ignored: no stream for pull request #${pr.number}`;
    const withdrawn = await withdrawReview(deps, {
      repo,
      stream,
      reviewer,
      reason: `Review ${review.id} dismissed on GitHub.`,
    });
    return withdrawn ? 'handled' : 'ignored: no review to dismiss';
  }
  if (payload.action !== 'submitted') return `ignored: pull_request_review.${payload.action}`;
  const verdict = VERDICTS[review.state.toLowerCase()];
  if (!verdict) return `ignored: review state ${review.state}`;
  if (!stream || !isLiveStream(stream)) {
    if (pr.state !== 'open')
      return `ignored: pull request #${pr.number} is ${pr.state} and has no live stream`;
    stream = (await openPullRequestStream(deps, repo, pr)).stream;
  } else {
    // Deliveries may come out of order: the PR's head as the review saw it is recorded first, so
    // the verdict is tied to that code and not to an older head.
    await recordPullRequestSync(deps, repo, pr);
  }
  if (review.commit_id && review.commit_id !== pr.head.sha) {
    return `ignored: review of commit ${review.commit_id}; the pull request is at ${pr.head.sha}`;
  }
  try {
    await submitReview(deps, {
      repo,
      stream,
      reviewer,
      verdict,
      feedback: review.body ? review.body.slice(0, MAX_FEEDBACK) : null,
    });
  } catch (error) {
    // The core's refusals (self-review, no access, a stream no longer live) are answers, not failures.
    if (isGitSwarmError(error) && error.status < 500) return `ignored: ${error.code}: ${error.message}`;
    throw error;
  }
  return 'handled';
}
