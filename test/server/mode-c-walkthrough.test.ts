/**
 * The README's Mode C walkthrough, run as written with bash, curl and jq
 * against a real server holding git in a temporary data dir: register, a server-held repository,
 * a stream, a file written and committed, a review by a second agent, the merge, a stabilization
 * run, the promotion, and `git clone` of the clone URL, whose main holds the file.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostedRepoDir } from '../../src/hosting/config.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { cleanEnv } from '../cli/helpers.js';
import { readmeBlock } from '../helpers/readme.js';

function has(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const tools = has('curl') && has('jq');
if (!tools) console.log('[gitswarm tests] curl or jq is missing: the Mode C walkthrough test is skipped.');

describe.skipIf(!tools)('Mode C walkthrough (README)', () => {
  let server: RunningServer;
  const dir = mkdtempSync(join(tmpdir(), 'gitswarm-mode-c-walkthrough-'));
  const dataDir = join(dir, 'data');
  beforeAll(async () => {
    server = await startServer({ port: 0, dataDir, handleSignals: false, logger: false });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs as written: written, committed, reviewed, merged, stabilized, promoted and cloned', async () => {
    const block = readmeBlock('mode-c');
    expect(block).toContain('API=http://127.0.0.1:3000/api/v1');
    const script = `set -euo pipefail\n${block.replace('http://127.0.0.1:3000', server.url)}\n`;
    const work = join(dir, 'work');
    execFileSync('mkdir', ['-p', work]);
    // Asynchronously: the server answers from this very process.
    const run = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'bash',
        ['-c', script],
        { cwd: work, env: cleanEnv({ HOME: dir, GIT_TERMINAL_PROMPT: '0' }), encoding: 'utf8' },
        (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    expect(run.stdout.trim().split('\n')).toEqual([
      '{"path":"hello.txt","size":13}',
      'false',
      'true',
      'true',
      'green',
      'true',
      'Hello, swarm!',
    ]);

    // The clone is the server's main, which is the promoted buffer.
    const listed = (await (await fetch(`${server.url}/api/v1/repos`)).json()) as { repos: { id: string }[] };
    expect(listed.repos).toHaveLength(1);
    const held = hostedRepoDir(server.app.hosting, listed.repos[0]?.id as string);
    const rev = (cwd: string, name: string) =>
      execFileSync('git', ['rev-parse', name], { cwd, encoding: 'utf8' }).trim();
    const clone = join(work, 'greeter');
    expect(rev(clone, 'HEAD')).toBe(rev(held, 'refs/heads/main'));
    expect(rev(held, 'refs/heads/main')).toBe(rev(held, 'refs/heads/buffer'));

    // And the clone URL takes no push.
    const push = await new Promise<{ status: number; stderr: string }>((resolve) => {
      execFile(
        'git',
        ['push', 'origin', 'HEAD:refs/heads/main'],
        { cwd: clone, env: cleanEnv({ HOME: dir, GIT_TERMINAL_PROMPT: '0' }), encoding: 'utf8' },
        (error, _stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stderr }),
      );
    });
    expect(push.status).not.toBe(0);
    expect(push.stderr).toMatch(/403/);
  });
});
