/**
 * One long-lived swarm agent for bench/run.ts (b, long-lived variant): opens the repository's
 * store once, as an MCP-server agent process would, then commits through the core API
 * (`commitWorkspace`, which merges into the buffer in swarm mode) once per round.
 * Usage: node swarm-agent.js REPO_ROOT AGENT COMMITS. Prints `ready` once set up, waits for a
 * line on standard input, commits, prints `done`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { readConfigFile, resolveStoreLocation } from '../src/cli/config-file.js';
import { openCliStore } from '../src/cli/context.js';
import { createLocalEventBus } from '../src/core/activity/events.js';
import { getAgent } from '../src/core/agents/agents.js';
import type { CoreDeps } from '../src/core/deps.js';
import { getRepo } from '../src/core/repos/repos.js';
import { commitWorkspace, getWorkspace } from '../src/core/streams/workspaces.js';
import { systemClock } from '../src/util/clock.js';

const [root, agentName, commitsArg] = process.argv.slice(2);
if (!root || !agentName || !commitsArg) {
  process.stderr.write('usage: swarm-agent.js REPO_ROOT AGENT COMMITS\n');
  process.exit(2);
}
const config = readConfigFile(root);
if (!config) throw new Error(`GitSwarm is not set up in ${root}`);
const store = await openCliStore(resolveStoreLocation(root, config, process.env));
try {
  const deps: CoreDeps = { store, clock: systemClock, events: createLocalEventBus() };
  const repo = await getRepo(store.db, config.repo_id);
  const agent = await getAgent(store.db, agentName);
  const workspace = await getWorkspace(store.db, repo.id, agent);
  process.stdout.write('ready\n');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  lines.close();
  for (let c = 0; c < Number(commitsArg); c++) {
    writeFileSync(join(workspace.path, `${agentName}.txt`), `commit ${c}\n`);
    await commitWorkspace(deps, { repo, agent, message: `${agentName} commit ${c}` });
  }
  process.stdout.write('done\n');
} finally {
  await store.close();
}
