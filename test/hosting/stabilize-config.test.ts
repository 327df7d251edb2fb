/**
 * The settings of server stabilization runs: the lease and its renewal, the environment of
 * `gitswarm serve`, and `--allow-unsandboxed` reaching the app.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { hostingConfig, STABILIZE_RUN_DEFAULTS } from '../../src/hosting/config.js';
import { stabilizeOptionsFromEnv } from '../../src/hosting/stabilize-config.js';
import { serverConfigFromEnv, startServer } from '../../src/server/serve.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('stabilization run settings', () => {
  it('defaults; a lease given alone is renewed four times per lease; a renewal as long as the lease is refused', () => {
    expect(hostingConfig().stabilizeRuns).toEqual(STABILIZE_RUN_DEFAULTS);
    expect(hostingConfig({ stabilizeRuns: { leaseMs: 2000 } }).stabilizeRuns).toMatchObject({
      leaseMs: 2000,
      renewMs: 500,
    });
    expect(hostingConfig({ stabilizeRuns: { leaseMs: 600_000 } }).stabilizeRuns.renewMs).toBe(15_000);
    expect(() => hostingConfig({ stabilizeRuns: { leaseMs: 1000, renewMs: 1000 } })).toThrow(/renewal/);
    expect(() => hostingConfig({ stabilizeRuns: { maxAttempts: 0 } })).toThrow(/attempt/);
  });

  it('gitswarm serve reads them, and --allow-unsandboxed, from the environment', () => {
    const config = serverConfigFromEnv({
      GITSWARM_ALLOW_UNSANDBOXED: '1',
      GITSWARM_INSTANCE_ID: 'node-7',
      GITSWARM_STABILIZE_LEASE_MS: '3000',
      GITSWARM_STABILIZE_POLL_MS: '500',
      GITSWARM_STABILIZE_MAX_ATTEMPTS: '5',
      GITSWARM_STABILIZE_CONCURRENCY: '1',
    });
    expect(config.allowUnsandboxed).toBe(true);
    expect(config.app?.hosting).toEqual({
      instanceId: 'node-7',
      stabilizeRuns: { leaseMs: 3000, pollMs: 500, maxAttempts: 5, concurrency: 1 },
    });
    expect(serverConfigFromEnv({}).allowUnsandboxed).toBe(false);
    expect(serverConfigFromEnv({ GITSWARM_ALLOW_UNSANDBOXED: 'yes' }).allowUnsandboxed).toBe(false);
    expect(stabilizeOptionsFromEnv({})).toEqual({});
    expect(() => stabilizeOptionsFromEnv({ GITSWARM_STABILIZE_LEASE_MS: '1.5s' })).toThrow(
      /GITSWARM_STABILIZE_LEASE_MS must be a positive integer/,
    );
  });

  it('the server started with allowUnsandboxed (or the environment) carries it to the app; the CLI has the flag', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gitswarm-stabilize-config-'));
    dirs.push(dataDir);
    const base = { port: 0, dataDir, handleSignals: false, logger: false } as const;
    const env = serverConfigFromEnv({ GITSWARM_ALLOW_UNSANDBOXED: '1', GITSWARM_INSTANCE_ID: 'node-9' });
    const allowed = await startServer({ ...base, allowUnsandboxed: env.allowUnsandboxed, app: env.app });
    expect(allowed.app.hosting).toMatchObject({ allowUnsandboxed: true, instanceId: 'node-9' });
    await allowed.close();
    const strict = await startServer(base);
    expect(strict.app.hosting.allowUnsandboxed).toBe(false);
    await strict.close();

    const out: string[] = [];
    const code = await runCli(['serve', '--help'], {
      stdout: { write: (text) => void out.push(text) },
      stderr: { write: (text) => void out.push(text) },
      isTTY: false,
      color: false,
      cwd: dataDir,
      env: {},
      signal: new AbortController().signal,
    });
    expect(code).toBe(0);
    expect(out.join('')).toContain('--allow-unsandboxed');
  });
});
