/**
 * Clients and suites that no one here wrote check the server: the MCP Inspector's CLI mode lists
 * the tools of `gitswarm mcp` and calls status over stdio, and the protocol's conformance suite
 * runs every server scenario against /mcp of a real server (scripts/mcp-conformance.mjs); the
 * scenarios that need the suite's own fixtures are the baseline (test/mcp/conformance-baseline.yml).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, createTestRepo, type TestRepo } from '../cli/helpers.js';
import { ROOT, requireFreshBuild } from '../helpers/built.js';
import { CONTRACT_TOOLS } from './contract.js';

const INSPECTOR = join(
  ROOT,
  'node_modules',
  '@modelcontextprotocol',
  'inspector',
  'clients',
  'launcher',
  'build',
  'index.js',
);

function run(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      args,
      { ...options, encoding: 'utf8', timeout: 120_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('MCP Inspector (--cli) against gitswarm mcp on stdio', () => {
  let repo: TestRepo;
  let home: string;

  beforeAll(async () => {
    requireFreshBuild();
    repo = createTestRepo();
    home = mkdtempSync(join(tmpdir(), 'gitswarm-inspector-home-'));
    expect((await repo.run(['init'])).code).toBe(0);
    expect((await repo.run(['agent', 'register', 'inspector'])).code).toBe(0);
  });
  afterAll(() => {
    repo?.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  const inspect = (...args: string[]) =>
    run([INSPECTOR, '--cli', '--cwd', repo.dir, process.execPath, BIN, 'mcp', '--as', 'inspector', ...args], {
      cwd: repo.dir,
      env: { ...repo.env, HOME: home },
    });

  it('lists the tools', async () => {
    const listed = await inspect('--method', 'tools/list');
    expect({ code: listed.code, stderr: listed.code === 0 ? '' : listed.stderr }).toEqual({
      code: 0,
      stderr: '',
    });
    const { tools } = JSON.parse(listed.stdout.slice(listed.stdout.indexOf('{'))) as {
      tools: { name: string }[];
    };
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(CONTRACT_TOOLS.map((t) => t.name)));
  }, 120_000);

  it('calls status', async () => {
    const called = await inspect('--method', 'tools/call', '--tool-name', 'status');
    expect(called.code).toBe(0);
    const result = JSON.parse(called.stdout.slice(called.stdout.indexOf('{'))) as {
      isError?: boolean;
      structuredContent: { repo: { path: string }; buffer_head: string };
    };
    expect(result.isError ?? false).toBe(false);
    expect(result.structuredContent.repo.path).toBe(repo.dir);
    expect(result.structuredContent.buffer_head).toBe(repo.git(['rev-parse', 'buffer']));
  }, 120_000);
});

describe('MCP conformance suite against /mcp', () => {
  it('passes every server scenario but those needing the suite’s own fixtures (the baseline)', async () => {
    requireFreshBuild();
    const result = await run(
      [
        join(ROOT, 'scripts', 'mcp-conformance.mjs'),
        '--expected-failures',
        join(ROOT, 'test', 'mcp', 'conformance-baseline.yml'),
      ],
      { cwd: ROOT, env: process.env },
    );
    expect({ code: result.code, tail: result.code === 0 ? '' : result.stdout.slice(-3000) }).toEqual({
      code: 0,
      tail: '',
    });
    expect(result.stdout).toContain('Baseline check passed');
    for (const scenario of [
      'server-initialize',
      'tools-list',
      'tools-call-error',
      'resources-subscribe',
      'dns-rebinding-protection',
    ])
      expect(result.stdout).toMatch(new RegExp(`✓ ${scenario}: \\d+ passed, 0 failed`));
  }, 300_000);
});
