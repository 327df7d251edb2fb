/**
 * The sandbox of server stabilization runs: a hostile test command can neither reach the network
 * nor write the repository's `.git`, even when the repository's maintainers set `sandbox none`;
 * a server without a working bubblewrap refuses runs unless started with --allow-unsandboxed.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serverSandboxMode } from '../../src/hosting/stabilize-sandbox.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { startTestApp, type TestApp } from '../server/helpers.js';
import {
  type HostedRepo,
  mergeWork,
  seedHostedRepo,
  startRun,
  TEST_RUN_TIMING,
  waitForRun,
} from './hosted-stabilize-fixture.js';

/** What a hostile test suite tries: the repository's .git (a file, a branch, a tag) and the network. */
const ATTACK_SCRIPT = `#!/bin/sh
gitdir=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null)
echo "gitdir=$gitdir"
if echo pwned > "$gitdir/PWNED" 2>/dev/null; then echo GIT_FILE_WRITTEN; else echo GIT_FILE_BLOCKED; fi
if git update-ref refs/heads/main HEAD 2>/dev/null; then echo GIT_REF_WRITTEN; else echo GIT_REF_BLOCKED; fi
if git tag hostile 2>/dev/null; then echo GIT_TAG_WRITTEN; else echo GIT_TAG_BLOCKED; fi
node -e '
const socket = require("node:net").connect(Number(process.argv[1]), "127.0.0.1");
socket.on("connect", () => { console.log("NETWORK_REACHED"); process.exit(0); });
socket.on("error", (e) => { console.log("NETWORK_BLOCKED " + e.code); process.exit(0); });
setTimeout(() => { console.log("NETWORK_BLOCKED timeout"); process.exit(0); }, 3000);
' "$1"
echo attack-done
`;

/** A TCP server on 127.0.0.1 that counts the connections it gets. */
async function listener(): Promise<{ server: Server; port: number; connections: () => number }> {
  let count = 0;
  const server = createServer((socket) => {
    count += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port, connections: () => count };
}

describe('serverSandboxMode: the operator decides, not the repository', () => {
  it('bubblewrap where it works, whatever the repository asks; none only with --allow-unsandboxed', async () => {
    expect(await serverSandboxMode({ sandbox: 'bubblewrap' }, { allowUnsandboxed: false })).toBe(
      'bubblewrap',
    );
    expect(await serverSandboxMode({ sandbox: 'none' }, { allowUnsandboxed: false })).toBe('bubblewrap');
    expect(await serverSandboxMode({ sandbox: 'none' }, { allowUnsandboxed: true })).toBe('none');
    expect(await serverSandboxMode({ sandbox: 'bubblewrap' }, { allowUnsandboxed: true })).toBe('bubblewrap');
    // No bubblewrap on the server's PATH.
    const noBwrap = { searchPath: '/nonexistent-gitswarm-bin' };
    await expect(
      serverSandboxMode({ sandbox: 'bubblewrap' }, { allowUnsandboxed: false, ...noBwrap }),
    ).rejects.toMatchObject({ code: 'sandbox_unavailable' });
    await expect(
      serverSandboxMode({ sandbox: 'none' }, { allowUnsandboxed: false, ...noBwrap }),
    ).rejects.toMatchObject({ code: 'sandbox_unavailable' });
    expect(await serverSandboxMode({ sandbox: 'bubblewrap' }, { allowUnsandboxed: true, ...noBwrap })).toBe(
      'none',
    );
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: the server's stabilization sandbox`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    }, 120_000);

    async function setUp(hosting: Record<string, unknown>, settings: Record<string, unknown>) {
      const t: TestApp = await startTestApp(dialect, {
        hosting: { ...hosting, stabilizeRuns: { ...TEST_RUN_TIMING, ...(hosting.stabilizeRuns as object) } },
      });
      cleanups.push(() => t.close());
      const hosted: HostedRepo = await seedHostedRepo(t.app, settings);
      cleanups.push(() => hosted.git.cleanup());
      return { ...t, hosted };
    }

    async function attack(hosting: Record<string, unknown>) {
      const net = await listener();
      cleanups.push(() => new Promise<void>((resolve) => net.server.close(() => resolve())));
      // The repository's maintainers ask for no sandbox: only the server's operator may grant it.
      const { app, hosted } = await setUp(hosting, {
        sandbox: 'none',
        stabilize_command: `sh attack.sh ${net.port}`,
      });
      const refsBefore = await hosted.git.run(['for-each-ref', '--format=%(refname) %(objectname)']);
      const { bufferHead } = await mergeWork(app, hosted, hosted.owner, { 'attack.sh': ATTACK_SCRIPT });
      const started = await startRun(app, hosted.owner, hosted.repo.id);
      expect(started.status).toBe(202);
      const run = await waitForRun(app, hosted.owner, hosted.repo.id, started.run.id);
      return { run, net, hosted, refsBefore, bufferHead };
    }

    it('a command that tries the network and to write .git is blocked (even with the repository set to sandbox none)', async () => {
      const { run, net, hosted, refsBefore, bufferHead } = await attack({});
      expect(run.log_tail).toContain('attack-done');
      expect(run.log_tail).toContain('sandbox bubblewrap');
      expect(run.log_tail).toContain('GIT_FILE_BLOCKED');
      expect(run.log_tail).toContain('GIT_REF_BLOCKED');
      expect(run.log_tail).toContain('GIT_TAG_BLOCKED');
      expect(run.log_tail).toMatch(/NETWORK_BLOCKED/);
      expect(run.log_tail).not.toMatch(/NETWORK_REACHED|_WRITTEN/);
      expect(net.connections()).toBe(0);
      // .git is as it was: no file, the refs only moved by the server (the merge to the buffer, the green tag).
      expect(existsSync(join(hosted.git.dir, '.git', 'PWNED'))).toBe(false);
      const refsAfter = await hosted.git.run(['for-each-ref', '--format=%(refname) %(objectname)']);
      const changed = refsAfter.split('\n').filter((line) => !refsBefore.split('\n').includes(line));
      expect(changed.length).toBeGreaterThan(0);
      for (const line of changed)
        expect(line).toMatch(/^refs\/(heads\/buffer|heads\/stream\/\S+|tags\/green\/\S+) /);
      expect(await hosted.git.exitCode(['rev-parse', '--verify', '--quiet', 'refs/tags/hostile'])).not.toBe(
        0,
      );
      expect(await hosted.git.rev('main')).not.toBe(bufferHead);
    }, 120_000);

    it('--allow-unsandboxed lets the repository run without a sandbox (and then nothing is blocked)', async () => {
      const { run, net, hosted } = await attack({ allowUnsandboxed: true });
      expect(run.log_tail).toContain('sandbox none (the server allows unsandboxed runs)');
      expect(run.log_tail).toContain('WITHOUT a sandbox');
      expect(run.log_tail).toContain('NETWORK_REACHED');
      expect(run.log_tail).toContain('GIT_FILE_WRITTEN');
      expect(net.connections()).toBe(1);
      expect(existsSync(join(hosted.git.dir, '.git', 'PWNED'))).toBe(true);
    }, 120_000);

    it('limits: a command past its time limit is killed with its process tree, and the run is red', async () => {
      const { app, hosted } = await setUp(
        {},
        { stabilize_command: 'sleep 30 & sleep 30', stabilize_timeout_seconds: 1 },
      );
      await mergeWork(app, hosted, hosted.owner, { 'a.txt': 'fine\n' });
      const started = Date.now();
      const run = await waitForRun(
        app,
        hosted.owner,
        hosted.repo.id,
        (await startRun(app, hosted.owner, hosted.repo.id)).run.id,
      );
      expect(run.status).toBe('red');
      expect(run.log_tail).toContain('timed out after 1 s (process tree killed)');
      // Three runs of one second (the head, its retry, the baseline), not of thirty.
      expect(Date.now() - started).toBeLessThan(25_000);
    }, 120_000);

    it('without a working bubblewrap the server refuses runs (sandbox_unavailable) and queues nothing', async () => {
      const { app, hosted } = await setUp({ stabilizeRuns: { searchPath: '/nonexistent-gitswarm-bin' } }, {});
      const refused = await startRun(app, hosted.owner, hosted.repo.id);
      expect(refused.status).toBe(503);
      expect(refused.body.error).toMatchObject({ code: 'sandbox_unavailable' });
      expect(refused.body.error.hint).toContain('--allow-unsandboxed');
      const rows = await app.deps.store.db
        .selectFrom('gitswarm_stabilize_runs')
        .select('id')
        .where('repo_id', '=', hosted.repo.id)
        .execute();
      expect(rows).toHaveLength(0);
    }, 120_000);
  });
}
