/**
 * What the command server does right after it starts: load what its commands will need. The CLI
 * loads each command's code only when that command runs (a one-off process should load only its
 * own), so without this the first `workspace create`, `commit` or `merge` a server runs would pay
 * for loading and compiling its modules: tens of milliseconds each, more than the command itself.
 *
 * One module per turn of the event loop, so a command arriving meanwhile waits for one at most.
 */
import { dirname } from 'node:path';
import { git } from '../../engine/git.js';
import { readConfigFile, resolveStoreLocation } from '../config-file.js';
import type { StoreLender } from './store-seam.js';

/**
 * What every repository command loads (its context, the housekeeping pass, the acting agent's
 * lookup), then the modules behind the commands agents run over and over (the others load on first
 * use: a server that warmed everything would spend a few hundred milliseconds of CPU on code it
 * may never run). `init` is among them: it is idempotent, and an agent's set-up runs it at the
 * start of a session. A test checks that a warm server loads nothing for the agent workflow.
 */
const COMMAND_MODULES: ReadonlyArray<() => Promise<unknown>> = [
  () => import('../context.js'),
  () => import('../housekeeping.js'),
  () => import('../../core/agents/agents.js'),
  () => import('../status.js'),
  () => import('../workspace.js'),
  () => import('../commit.js'),
  () => import('../review.js'),
  () => import('../merge.js'),
  () => import('../agent.js'),
  () => import('../consensus.js'),
  () => import('../diff.js'),
  () => import('../init.js'),
];

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Opens the repository's store (kept open by `stores`) and loads the command modules. Failures are
 * ignored: the command that needs the module or the store then meets the error itself.
 */
export async function warmUp(gitswarmDir: string, stores: StoreLender): Promise<void> {
  const root = dirname(gitswarmDir);
  try {
    const borrowed = await stores.borrow(resolveStoreLocation(root, readConfigFile(root), process.env));
    await borrowed.release();
  } catch {
    // Not readable now: the first command reports why.
  }
  // Starts the helper that runs git (its Node start-up would otherwise fall in the first command
  // that runs git) while the modules load: it starts in a process of its own.
  void git(['--version'], { cwd: root }).catch(() => {});
  for (const load of COMMAND_MODULES) {
    await nextTurn();
    await load().catch(() => {});
  }
}
