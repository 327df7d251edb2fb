/**
 * The README's Mode B requests (curl), run as written against a real server listening on a port:
 * register → repository → stream → commit → submit → review → merge decision → merge report, with
 * a real git repository as the client's clone.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
if (!tools) console.log('[gitswarm tests] curl or jq is missing: the README API test is skipped.');

describe.skipIf(!tools)('README API requests', () => {
  let server: RunningServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'gitswarm-readme-api-'));
  beforeAll(async () => {
    server = await startServer({ port: 0, dataDir, handleSignals: false, logger: false });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('run as written and print what the README says', async () => {
    const block = readmeBlock('api');
    expect(block).toContain('API=http://127.0.0.1:3000/api/v1');
    const script = `set -euo pipefail\n${block.replace('http://127.0.0.1:3000', server.url)}\n`;
    // Asynchronously: the server answers from this very process.
    const run = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'bash',
        ['-c', script],
        { cwd: dataDir, env: cleanEnv(), encoding: 'utf8' },
        (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    const printed = JSON.parse(
      `[${run.stdout
        .trim()
        .split(/\n(?=["{tf])/)
        .join(',')}]`,
    );
    expect(printed).toEqual([true, 'in_review', true, { approved: true, buffer_branch: 'buffer' }, 'merged']);
    const listed = (await (await fetch(`${server.url}/api/v1/repos`)).json()) as { repos: { id: string }[] };
    expect(listed.repos).toHaveLength(1);
  });
});
