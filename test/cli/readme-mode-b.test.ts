/**
 * The README's Mode B walkthrough, typed as written into a shell with the built CLI against a real
 * server on a free port: two clones of one bare remote, connected to one server; the stream made on
 * the laptop is reviewed from the second clone, merged, and promoted on the remote.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { readmeBlock } from '../helpers/readme.js';
import { BIN, cleanEnv } from './helpers.js';

function has(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const tools = has('jq');
if (!tools) console.log('[gitswarm tests] jq is missing: the README Mode B walkthrough test is skipped.');

describe.skipIf(!tools)('README Mode B walkthrough', () => {
  let server: RunningServer;
  const dir = mkdtempSync(join(tmpdir(), 'gitswarm-readme-mode-b-'));
  beforeAll(async () => {
    server = await startServer({
      port: 0,
      dataDir: join(dir, 'server'),
      handleSignals: false,
      logger: false,
    });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs as written: reviewed on one clone, merged from the other, promoted on the remote', async () => {
    const block = readmeBlock('mode-b');
    expect(block).toContain('SERVER=http://127.0.0.1:3000');
    const script = `set -euo pipefail\ngitswarm() { "${process.execPath}" "${BIN}" "$@"; }\n${block.replace(
      'http://127.0.0.1:3000',
      server.url,
    )}\n`;
    const work = join(dir, 'work');
    execFileSync('mkdir', ['-p', work]);
    // The credentials file goes to a temporary config home, never the user's own.
    const env = cleanEnv({ XDG_CONFIG_HOME: join(dir, 'config'), HOME: dir });
    // Asynchronously: the server answers from this very process.
    const run = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile('bash', ['-c', script], { cwd: work, env, encoding: 'utf8' }, (error, stdout, stderr) =>
        resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect({ status: run.status, stderr: run.stderr }).toMatchObject({ status: 0 });
    expect(run.stdout).toContain('Merged stream');
    expect(run.stdout).toContain('Promoted main');
    const lastLine = run.stdout.trim().split('\n').at(-1);
    expect(lastLine).toMatch(/^[0-9a-f]{7,} Merge stream caching/);

    // The server saw it all: the stream is merged there, approved by bob.
    const listed = (await (await fetch(`${server.url}/api/v1/repos`)).json()) as { repos: { id: string }[] };
    expect(listed.repos).toHaveLength(1);
    const streams = (await (
      await fetch(`${server.url}/api/v1/repos/${listed.repos[0]?.id}/streams?status=merged`)
    ).json()) as { streams: { name: string; status: string }[] };
    expect(streams.streams.map((s) => [s.name, s.status])).toEqual([['caching', 'merged']]);
  });
});
