/**
 * Bounds on what cloning a `clone_url` may cost the server: its size on disk and its time. A clone
 * is watched while it runs (git has no size limit of its own for fetching) and measured once more
 * when it is done, so a small repository that arrives all at once is judged too.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GitSwarmError } from '../errors.js';

/** How often a running clone's size is measured. */
const WATCH_INTERVAL_MS = 250;

/** The bytes of the files under `dir` (0 when it does not exist yet); symbolic links are not followed. */
export async function directoryBytes(dir: string): Promise<number> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  let total = 0;
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await directoryBytes(path);
    else
      total += await lstat(path).then(
        (stat) => stat.size,
        () => 0,
      );
  }
  return total;
}

export function cloneTooLarge(maxBytes: number): GitSwarmError {
  return new GitSwarmError(
    'payload_too_large',
    `clone_url is larger than this server takes (${Math.round(maxBytes / (1024 * 1024))} MiB).`,
    { hint: 'Clone a smaller repository, or ask the operator to raise GITSWARM_MAX_CLONE_BYTES.' },
  );
}

/**
 * Runs `clone` (given the signal that kills it) while `dir` is watched: past `maxBytes` on disk or
 * `timeoutMs` of time it is killed and this throws 413 `payload_too_large` or 400 `invalid_input`.
 */
export async function withCloneLimits(
  dir: string,
  limits: { maxBytes: number; timeoutMs: number },
  clone: (signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const controller = new AbortController();
  let exceeded: GitSwarmError | null = null;
  const stop = (error: GitSwarmError) => {
    exceeded ??= error;
    controller.abort();
  };
  const deadline = setTimeout(
    () =>
      stop(
        new GitSwarmError(
          'invalid_input',
          `Cloning clone_url took longer than ${Math.round(limits.timeoutMs / 1000)} s.`,
          {
            hint: 'Clone a smaller repository, or one closer to the server.',
          },
        ),
      ),
    limits.timeoutMs,
  );
  let measuring = false;
  const watch = setInterval(() => {
    if (measuring) return;
    measuring = true;
    void directoryBytes(dir)
      .then((bytes) => {
        if (bytes > limits.maxBytes) stop(cloneTooLarge(limits.maxBytes));
      })
      .finally(() => {
        measuring = false;
      });
  }, WATCH_INTERVAL_MS);
  try {
    await clone(controller.signal);
  } catch (error) {
    if (exceeded) throw exceeded;
    throw error;
  } finally {
    clearTimeout(deadline);
    clearInterval(watch);
  }
  if (exceeded) throw exceeded;
  if ((await directoryBytes(dir)) > limits.maxBytes) throw cloneTooLarge(limits.maxBytes);
}
