/**
 * The attack of the issue: a server with thousands of pending webhook deliveries to a host that
 * never answers gets SIGTERM. It exits (the test's 10 s timeout bounds it; the documented bound
 * for deliveries is 2 s) and every row is still owed for the next start. Runs the real binary
 * (dist/: `npm run build` first); traffic goes only to 127.0.0.1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { SQLITE_FILE } from '../../src/server/serve.js';
import { openStore } from '../../src/store/index.js';
import { BIN, cleanEnv } from '../cli/helpers.js';
import { requireFreshBuild } from '../helpers/built.js';
import { seedPendingDeliveries, startHangingServer, waitFor } from './webhook-helpers.js';

const dataDir = mkdtempSync(join(tmpdir(), 'gitswarm-shutdown-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

it('SIGTERM with 3,000 deliveries pending to a hanging host: the server exits and keeps them', async () => {
  const hanging = await startHangingServer();
  const location = join(dataDir, SQLITE_FILE);
  const store = await openStore(location);
  let agentId: string;
  try {
    agentId = await seedPendingDeliveries(store, hanging.url, 3000);
  } finally {
    await store.close();
  }

  requireFreshBuild();
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
    env: cleanEnv({ GITSWARM_DATA_DIR: dataDir, GITSWARM_ALLOW_PRIVATE_WEBHOOKS: '1', LOG_LEVEL: 'silent' }),
    stdio: 'ignore',
  });
  const exit = exited(child);
  try {
    // Deliveries are running (and hanging) when the signal comes.
    await waitFor(() => hanging.open() > 0);
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
  } finally {
    child.kill('SIGKILL');
    hanging.close();
  }

  const after = await openStore(location);
  try {
    const owed = await after.db
      .selectFrom('gitswarm_agent_notifications')
      .select(['delivered', 'attempts', 'next_attempt_at'])
      .where('agent_id', '=', agentId)
      .execute();
    expect(owed).toHaveLength(3000);
    expect(owed.every((r) => !r.delivered && r.attempts === 0 && r.next_attempt_at !== null)).toBe(true);
  } finally {
    await after.close();
  }
}, 10_000);
