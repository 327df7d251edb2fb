/**
 * Dependency folders, the setup command and the run outcome, on a real npm project: a package
 * installed from the registry (once per file) into a repository under /tmp and one in the home,
 * run under bubblewrap (and without a sandbox, which copies too).
 */
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSandboxAvailable, type SandboxMode, supportsTmpOverlay } from '../../src/engine/sandbox.js';
import { DEFAULT_DEPENDENCY_DIRS, findDependencyDirs } from '../../src/engine/sandbox-deps.js';
import {
  openStabilizeLog,
  runStabilizeCommand,
  type StabilizeRunOptions,
} from '../../src/engine/stabilize-run.js';
import { installNpmPackageOnce, seedNpmProject } from '../helpers/stabilize-fixture.js';

const IDENTITY = {
  GIT_AUTHOR_NAME: 'deps-test',
  GIT_AUTHOR_EMAIL: 'deps@example.invalid',
  GIT_COMMITTER_NAME: 'deps-test',
  GIT_COMMITTER_EMAIL: 'deps@example.invalid',
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...IDENTITY }, encoding: 'utf8' }).trim();
}

let nodeModules: string;
const cleanup: string[] = [];

beforeAll(async () => {
  await assertSandboxAvailable('bubblewrap');
  nodeModules = installNpmPackageOnce();
  cleanup.push(join(nodeModules, '..'));
}, 120_000);

afterAll(() => {
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

function stabilizeIn(repo: string, commit: string) {
  let output = '';
  const run = (options: Partial<StabilizeRunOptions> & { command: string }) => {
    output = '';
    return runStabilizeCommand(
      { root: repo, commonDir: join(repo, '.git') },
      {
        commit,
        sandbox: 'bubblewrap',
        timeoutMs: 60_000,
        memoryMb: 2048,
        label: 'run',
        output: (chunk) => {
          output += chunk;
        },
        ...options,
      },
    );
  };
  return { run, output: () => output };
}

for (const [where, base] of [
  ['/tmp', () => tmpdir()],
  ['the home', () => homedir()],
] as const) {
  describe(`dependency folders with the repository under ${where}`, () => {
    let repo: string;
    let commit: string;
    let s: ReturnType<typeof stabilizeIn>;

    beforeAll(() => {
      const parent = mkdtempSync(join(base(), '.gitswarm-deps-'));
      cleanup.push(parent);
      ({ repo, commit } = seedNpmProject(parent, nodeModules));
      s = stabilizeIn(repo, commit);
    });

    for (const sandbox of ['bubblewrap', 'none'] as SandboxMode[]) {
      it(`npm test finds the installed package and writes its cache, which never reaches the checkout (sandbox ${sandbox})`, async () => {
        const result = await s.run({ command: 'npm test', sandbox });
        expect(s.output()).toContain('CACHE WRITTEN');
        expect(result).toMatchObject({ outcome: 'passed', passed: true, exitCode: 0 });
        expect(existsSync(join(repo, 'node_modules', 'semver', 'package.json'))).toBe(true);
        expect(existsSync(join(repo, 'node_modules', '.cache'))).toBe(false);
      });
    }

    it('without the dependency folder the same test cannot find the bin: an error saying what is missing, not a failure', async () => {
      const result = await s.run({ command: 'npm test', dependencyDirs: [] });
      expect(result.exitCode).toBe(127);
      expect(result).toMatchObject({ outcome: 'error', passed: false });
      expect(result.error).toContain('the stabilize command could not start: `semver` not found (exit 127)');
      expect(result.error).toContain('dependency folders: none found');
      expect(result.error).toContain('stabilize_setup_command');
    });
  });
}

describe('which folders are shown, setup command, outcomes, output cap', () => {
  let repo: string;
  let commit: string;
  let s: ReturnType<typeof stabilizeIn>;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    const parent = mkdtempSync(join(tmpdir(), 'gitswarm-deps-'));
    cleanup.push(parent);
    ({ repo, commit } = seedNpmProject(parent, nodeModules));
    writeFileSync(join(repo, 'noexec.sh'), '#!/bin/sh\necho should not run\n');
    chmodSync(join(repo, 'noexec.sh'), 0o644);
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'a script without the execute bit');
    commit = git(repo, 'rev-parse', 'HEAD');
    s = stabilizeIn(repo, commit);
    server = createServer((socket) => {
      socket.on('error', () => {});
      socket.end('hello\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('shows only folders that exist and are ignored in the checkout; never .git, .gitswarm or a path outside', async () => {
    mkdirSync(join(repo, 'vendor'), { recursive: true }); // exists, not ignored: the user's work
    writeFileSync(join(repo, 'vendor', 'x'), 'x');
    const worktree = mkdtempSync(join(tmpdir(), 'gitswarm-deps-wt-'));
    cleanup.push(worktree);
    const found = await findDependencyDirs(repo, worktree, DEFAULT_DEPENDENCY_DIRS);
    expect(found.map((m) => m.relPath)).toEqual(['node_modules']);
    expect(found[0]).toMatchObject({
      source: join(repo, 'node_modules'),
      target: join(worktree, 'node_modules'),
    });
    rmSync(join(repo, 'vendor'), { recursive: true });
  });

  it("a Python virtualenv's scripts, which name their interpreter by absolute path, run from the copy", async () => {
    appendFileSync(join(repo, '.git', 'info', 'exclude'), '.venv/\n');
    execFileSync('python3', ['-m', 'venv', join(repo, '.venv')]);
    const pipShebang = readFileSync(join(repo, '.venv', 'bin', 'pip'), 'utf8').split('\n')[0];
    expect(pipShebang).toBe(`#!${join(repo, '.venv', 'bin', 'python3')}`);
    try {
      const result = await s.run({
        command:
          '.venv/bin/pip --version && .venv/bin/python -c "import sys; print(\'prefix=\' + sys.prefix)" && touch .venv/cache-file',
        dependencyDirs: ['.venv'],
      });
      expect(s.output()).toMatch(/^pip \d+/m);
      expect(result).toMatchObject({ outcome: 'passed', exitCode: 0 });
      expect(existsSync(join(repo, '.venv', 'cache-file'))).toBe(false);
    } finally {
      rmSync(join(repo, '.venv'), { recursive: true, force: true });
    }
  });

  it('uses an overlay only where bubblewrap supports it, else the copy (bwrap 0.8 here)', async () => {
    const help = execFileSync('bwrap', ['--help'], { encoding: 'utf8' });
    const overlay = await supportsTmpOverlay();
    if (!help.includes('--tmp-overlay')) expect(overlay).toBe(false);
    const log = openStabilizeLog({ root: repo, commonDir: join(repo, '.git') }, new Date());
    await s.run({ command: 'true', log });
    await log.close();
    const text = readFileSync(log.path, 'utf8');
    expect(text).toContain(
      `dependency folders: node_modules (${overlay ? 'read-only, thrown-away overlay' : 'copy-on-write copy'})`,
    );
  });

  it('runs the setup command first in the same worktree, and the command sees what it built', async () => {
    const result = await s.run({
      setupCommand: 'echo built > build.txt && echo from-setup > node_modules/.setup-marker',
      command: 'cat build.txt node_modules/.setup-marker && npm test',
    });
    expect(s.output()).toContain('built\nfrom-setup');
    expect(result.outcome).toBe('passed');
    expect(existsSync(join(repo, 'node_modules', '.setup-marker'))).toBe(false);
    expect(existsSync(join(repo, 'build.txt'))).toBe(false);
  });

  it('a failing setup command is an error with what failed, and the command does not run', async () => {
    const result = await s.run({
      setupCommand: 'echo "make: no rule for target" >&2; exit 3',
      command: 'echo COMMAND-RAN',
    });
    expect(result).toMatchObject({ outcome: 'error', passed: false, exitCode: 3 });
    expect(result.error).toMatch(/^the setup command failed \(exit 3\): echo .* — make: no rule for target$/);
    expect(s.output()).not.toContain('COMMAND-RAN');
  });

  it('gives the setup command the network only when stabilize_setup_network is true; never the command', async () => {
    const probe = `node -e "require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('NET_OK'); process.exit(0) }).on('error', (e) => { console.log('NET_ERR ' + e.code); process.exit(4) })"`;
    const closed = await s.run({ setupCommand: probe, command: 'true' });
    expect(s.output()).toContain('NET_ERR');
    expect(closed.outcome).toBe('error');

    const open = await s.run({ setupCommand: probe, setupNetwork: true, command: probe });
    expect(s.output()).toContain('NET_OK');
    expect(s.output()).toMatch(/NET_OK[\s\S]*NET_ERR/);
    expect(open.outcome).toBe('failed');
  });

  it('a setup command with the network installs from the registry; the command then runs offline', async () => {
    const result = await s.run({
      setupCommand: 'npm install --no-save --no-package-lock --no-audit --no-fund semver@7.6.3',
      setupNetwork: true,
      dependencyDirs: [],
      command: 'npm test',
    });
    expect(s.output()).toContain('CACHE WRITTEN');
    expect(result.outcome).toBe('passed');
  });

  it('a command that cannot be executed (exit 126) is an error; an ordinary failure is a failure', async () => {
    const cannot = await s.run({ command: './noexec.sh' });
    expect(cannot).toMatchObject({ outcome: 'error', exitCode: 126 });
    expect(cannot.error).toContain('`./noexec.sh` is not executable (exit 126)');

    const failed = await s.run({ command: 'exit 1' });
    expect(failed).toMatchObject({ outcome: 'failed', exitCode: 1 });
    expect(failed.error).toBeUndefined();
  });

  it('caps the output kept from a run with a truncation line; the tail still has the end', async () => {
    const log = openStabilizeLog({ root: repo, commonDir: join(repo, '.git') }, new Date());
    const result = await s.run({
      command: 'i=0; while [ $i -lt 2000 ]; do echo "line $i of the noisy test"; i=$((i+1)); done',
      outputCapBytes: 4096,
      log,
    });
    await log.close();
    const text = readFileSync(log.path, 'utf8');
    expect(result.outcome).toBe('passed');
    expect(text).toContain(
      '[gitswarm: output truncated: this run wrote more than 4 KiB; the rest is not kept]',
    );
    expect(text).not.toContain('line 1999 of');
    expect(s.output().length).toBeLessThan(4096 + 200);
    expect(result.tail.at(-1)).toBe('line 1999 of the noisy test');
  });
});
