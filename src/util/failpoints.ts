/**
 * Failpoints for crash tests (as FoundationDB's and TiKV's fail-rs): named points on the write
 * paths where the process kills itself with SIGKILL, so tests can crash a real process at an exact
 * step and check that a fresh process reconciles git and the store (docs/crash-safety.md).
 *
 * FOR TESTS ONLY. They are armed solely by the environment of the process —
 * `GITSWARM_FAILPOINTS=merge.after-update-ref[,…]`, read once when this module loads — never by
 * anything a request, a command's arguments or a file carries. Unarmed (always, in use), a point
 * costs one boolean check.
 */

/** Every failpoint, in the order its operation passes them. */
export const FAILPOINTS = [
  'stream-create.after-intent',
  'stream-create.after-update-ref',
  'stream-create.after-worktree',
  'reopen.after-worktree-switch',
  'merge.after-check',
  'merge.after-intent',
  'merge.after-update-ref',
  'merge.after-checkout-sync',
  'merge.after-record',
  'cascade.after-reparent',
  'rebase.after-intent',
  'rebase.after-update-ref',
  'revert.after-check',
  'revert.after-intent',
  'revert.after-update-ref',
  'revert.after-checkout-sync',
  'revert.after-record',
  'promote.after-check',
  'promote.after-intent',
  'promote.after-update-ref',
  'promote.after-checkout-sync',
  'promote.after-record',
  'recovery.after-checkout-sync',
] as const;

export type FailpointName = (typeof FAILPOINTS)[number];

/** The environment variable that arms failpoints (comma-separated names). */
export const FAILPOINTS_ENV = 'GITSWARM_FAILPOINTS';

const armed: ReadonlySet<string> = new Set(
  (process.env[FAILPOINTS_ENV] ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== ''),
);
const anyArmed = armed.size > 0;

/** Dies here (SIGKILL, no clean-up, as a power cut would) when the environment armed this point. */
export function failpoint(name: FailpointName): void {
  if (!anyArmed) return;
  if (armed.has(name)) process.kill(process.pid, 'SIGKILL');
}
