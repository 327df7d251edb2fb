/**
 * Each attack a hostile stabilize command tried in the security review, performed from inside a
 * real run (real git, real bubblewrap, the repository under /tmp), and shown to fail. Where the
 * target is reachable on this machine, the same probe without the sandbox shows that it is.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSandboxAvailable, type SandboxMode, toolchainPrefixes } from '../../src/engine/sandbox.js';
import {
  runStabilizeCommand,
  type SharedRunSetup,
  type StabilizeRunResult,
  sharedRunSetup,
} from '../../src/engine/stabilize-run.js';

const IDENTITY = {
  GIT_AUTHOR_NAME: 'sandbox-test',
  GIT_AUTHOR_EMAIL: 'sandbox@example.invalid',
  GIT_COMMITTER_NAME: 'sandbox-test',
  GIT_COMMITTER_EMAIL: 'sandbox@example.invalid',
};
const PG_SOCKET = '/var/run/postgresql/.s.PGSQL.5432';
const NODE = process.execPath;

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...IDENTITY }, encoding: 'utf8' }).trim();
}

/** A node one-liner that connects (to a socket path or a TCP port) and prints what happened. */
function connectProbe(target: string): string {
  const script = `const s = require('net').connect(${target}); s.on('connect', () => { console.log('CONNECTED'); process.exit(0) }); s.on('error', (e) => { console.log('CONNECT_ERROR ' + e.code); process.exit(0) })`;
  return `${NODE} -e "${script}"`;
}

describe('sandbox isolation: attacks from inside a stabilize run', () => {
  let root: string;
  let repo: string;
  let commit: string;
  let other: string;
  let output = '';

  async function attack(
    command: string,
    sandbox: SandboxMode = 'bubblewrap',
    searchPath?: string,
    shared?: SharedRunSetup,
  ): Promise<StabilizeRunResult> {
    output = '';
    return runStabilizeCommand(
      { root: repo, commonDir: join(repo, '.git') },
      {
        commit,
        command,
        sandbox,
        timeoutMs: 30_000,
        memoryMb: 1024,
        label: 'attack',
        searchPath,
        shared,
        output: (chunk) => {
          output += chunk;
        },
      },
    );
  }

  beforeAll(async () => {
    await assertSandboxAvailable('bubblewrap');
    root = mkdtempSync(join(tmpdir(), 'gitswarm-isolation-'));
    repo = join(root, 'repo');
    mkdirSync(repo);
    git(repo, 'init', '-q', '-b', 'main');
    writeFileSync(join(repo, '.gitignore'), '.gitswarm/\n.worktrees/\n');
    writeFileSync(join(repo, 'a.txt'), 'tracked\n');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'initial');
    commit = git(repo, 'rev-parse', 'HEAD');
    // Secrets a CI checkout keeps in .git/config.
    git(
      repo,
      'config',
      'http.https://example.invalid/.extraheader',
      'AUTHORIZATION: basic GIT-CONFIG-SECRET',
    );
    git(repo, 'remote', 'add', 'origin', 'https://ci:GIT-CONFIG-SECRET@example.invalid/repo.git');
    // The store and another agent's worktree with uncommitted work, where GitSwarm keeps them.
    mkdirSync(join(repo, '.gitswarm'));
    writeFileSync(join(repo, '.gitswarm', 'federation.db'), 'STORE-SECRET\n');
    git(repo, 'worktree', 'add', '-q', '-b', 'stream/alice', join(repo, '.worktrees', 'alice'));
    writeFileSync(join(repo, '.worktrees', 'alice', 'wip.txt'), 'ALICE-WIP\n');
    // Another checkout on the machine.
    other = mkdtempSync(join(tmpdir(), 'gitswarm-other-checkout-'));
    writeFileSync(join(other, 'secret.txt'), 'OTHER-CHECKOUT\n');
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
  });

  it('cannot reach the PostgreSQL Unix socket: neither it nor /run or /var/run exists inside', async () => {
    const run = await attack(
      [
        connectProbe(`'${PG_SOCKET}'`),
        `test -e ${PG_SOCKET} || echo NO_SOCKET`,
        'test -e /run || echo NO_RUN',
        'test -e /var/run || echo NO_VAR_RUN',
      ].join('\n'),
    );
    expect(run.outcome).toBe('passed');
    expect(output).toContain('CONNECT_ERROR ENOENT');
    expect(output).not.toContain('CONNECTED');
    for (const marker of ['NO_SOCKET', 'NO_RUN', 'NO_VAR_RUN']) expect(output).toContain(marker);
    if (existsSync(PG_SOCKET)) {
      // The database really listens there: the same probe without the sandbox gets in.
      await attack(connectProbe(`'${PG_SOCKET}'`), 'none');
      expect(output).toContain('CONNECTED');
    }
  });

  it('cannot reach TCP 127.0.0.1:5432', async () => {
    await attack(connectProbe("5432, '127.0.0.1'"));
    expect(output).toMatch(/CONNECT_ERROR (ENETUNREACH|ECONNREFUSED)/);
    expect(output).not.toContain('CONNECTED');
    if (process.env.TEST_DATABASE_URL?.includes('127.0.0.1:5432')) {
      await attack(connectProbe("5432, '127.0.0.1'"), 'none');
      expect(output).toContain('CONNECTED');
    }
  });

  it('cannot read /etc/shadow, gshadow or other root-only files of /etc (covered); the rest of /etc stays readable', async () => {
    expect(readFileSync('/etc/shadow').length).toBeGreaterThan(0);
    const run = await attack(
      [
        'echo "shadow_bytes=$(cat /etc/shadow 2>/dev/null | wc -c)"',
        'echo "gshadow_bytes=$(cat /etc/gshadow 2>/dev/null | wc -c)"',
        'cat /etc/shadow /etc/gshadow 2>/dev/null',
        'test -d /etc/ssl/private && echo "tls_private=$(ls -A /etc/ssl/private | wc -l)"',
        'grep -q "^root:" /etc/passwd && echo PASSWD_READABLE',
        'echo x > /etc/shadow 2>/dev/null || echo SHADOW_RO',
      ].join('\n'),
    );
    expect(run.outcome).toBe('passed');
    expect(output).toMatch(/^shadow_bytes=0$/m);
    expect(output).toContain('gshadow_bytes=0');
    expect(output).not.toContain('root:');
    if (existsSync('/etc/ssl/private')) expect(output).toContain('tls_private=0');
    expect(output).toContain('PASSWD_READABLE');
    expect(output).toContain('SHADOW_RO');
  });

  it('cannot list another checkout in /tmp; /tmp holds only the tested worktree, the fresh home and the path to .git', async () => {
    await attack(
      [
        `ls ${other} 2>/dev/null || echo OTHER_HIDDEN`,
        `cat ${other}/secret.txt 2>/dev/null || echo SECRET_HIDDEN`,
        'echo "tmp: $(ls -A /tmp | tr "\\n" " ")"',
      ].join('\n'),
    );
    expect(output).toContain('OTHER_HIDDEN');
    expect(output).toContain('SECRET_HIDDEN');
    expect(output).not.toContain('OTHER-CHECKOUT');
    const tmpListing = /tmp: (.*)/.exec(output)?.[1]?.trim().split(' ') ?? [];
    // Besides the run's own entries, only the way to a toolchain on PATH (a checkout's .tools).
    const toolchainsInTmp = toolchainPrefixes(process.env.PATH ?? '')
      .map((prefix) => relative(tmpdir(), prefix).split('/')[0] ?? '')
      .filter((first) => first !== '' && first !== '..');
    const own = tmpListing.filter(
      (name) => name !== 'home' && name !== basename(root) && !toolchainsInTmp.includes(name),
    );
    expect(own).toEqual([expect.stringMatching(/^gitswarm-verify-/)]);
    expect(tmpListing).toContain('home');
    expect(tmpListing).toContain(basename(root));
    expect(tmpListing).not.toContain(basename(other));
  });

  it("cannot read another agent's worktree or the store file; the repository shows only its .git", async () => {
    const run = await attack(
      [
        `cat ${repo}/.worktrees/alice/wip.txt 2>/dev/null || echo WIP_HIDDEN`,
        `cat ${repo}/.gitswarm/federation.db 2>/dev/null || echo STORE_HIDDEN`,
        `echo "repo: $(ls -A ${repo} | tr "\\n" " ")"`,
        'git rev-parse HEAD',
        `echo x > ${repo}/.git/HEAD 2>/dev/null || echo GIT_RO`,
      ].join('\n'),
    );
    expect(run.outcome).toBe('passed');
    expect(output).toContain('WIP_HIDDEN');
    expect(output).toContain('STORE_HIDDEN');
    expect(output).not.toContain('ALICE-WIP');
    expect(output).not.toContain('STORE-SECRET');
    expect(output).toContain('repo: .git \n');
    // The git objects the tests may need are there, read-only.
    expect(output).toContain(commit);
    expect(output).toContain('GIT_RO');
  });

  it("a PATH entry shows a toolchain inside the checkout, never the store, another agent's worktree or the checkout itself", async () => {
    mkdirSync(join(repo, '.tools', 'bin'), { recursive: true });
    writeFileSync(join(repo, '.tools', 'bin', 'gs-tool'), '#!/bin/sh\necho TOOL_RAN\n', { mode: 0o755 });
    mkdirSync(join(repo, '.worktrees', 'alice', 'bin'), { recursive: true });
    mkdirSync(join(repo, '.gitswarm', 'bin'), { recursive: true });
    const searchPath = [
      join(repo, '.tools', 'bin'),
      join(repo, '.worktrees', 'alice', 'bin'),
      join(repo, '.gitswarm', 'bin'),
      repo,
      root,
      process.env.PATH,
    ].join(':');
    await attack(
      [
        'gs-tool',
        `cat ${repo}/.worktrees/alice/wip.txt 2>/dev/null || echo WIP_HIDDEN`,
        `cat ${repo}/.gitswarm/federation.db 2>/dev/null || echo STORE_HIDDEN`,
        `echo "repo: $(ls -A ${repo} | tr "\\n" " ")"`,
      ].join('\n'),
      'bubblewrap',
      searchPath,
    );
    expect(output).toContain('TOOL_RAN');
    expect(output).toContain('WIP_HIDDEN');
    expect(output).toContain('STORE_HIDDEN');
    expect(output).toContain('repo: .git .tools \n');
  });

  it('runs sharing one scan of the root (the runs of a stabilization) still never show the store or another worktree', async () => {
    mkdirSync(join(repo, '.tools', 'bin'), { recursive: true });
    writeFileSync(join(repo, '.tools', 'bin', 'gs-tool'), '#!/bin/sh\necho TOOL_RAN\n', { mode: 0o755 });
    mkdirSync(join(repo, '.worktrees', 'alice', 'bin'), { recursive: true });
    const searchPath = [
      join(repo, '.tools', 'bin'),
      join(repo, '.worktrees', 'alice', 'bin'),
      process.env.PATH,
    ].join(':');
    const shared = sharedRunSetup({ root: repo, commonDir: join(repo, '.git') }, searchPath);
    const scanned = shared.sandboxRoot();
    expect(shared.sandboxRoot()).toBe(scanned);
    expect(scanned).toContain(join(repo, '.tools'));
    expect(scanned.some((arg) => arg.startsWith(join(repo, '.worktrees')))).toBe(false);
    for (let run = 0; run < 2; run++) {
      await attack(
        `gs-tool\ncat ${repo}/.worktrees/alice/wip.txt 2>/dev/null || echo WIP_HIDDEN`,
        'bubblewrap',
        searchPath,
        shared,
      );
      expect(output).toContain('TOOL_RAN');
      expect(output).toContain('WIP_HIDDEN');
      expect(output).not.toContain('ALICE-WIP');
    }
  });

  it("cannot read the repository's git config secrets; git still works on the tested commit", async () => {
    const run = await attack(
      [
        `cat ${repo}/.git/config`,
        'git config --list',
        'git log -1 --format=commit=%H',
        'git status --short && echo STATUS_OK',
      ].join('\n'),
    );
    expect(readFileSync(join(repo, '.git', 'config'), 'utf8')).toContain('GIT-CONFIG-SECRET');
    expect(run.outcome).toBe('passed');
    expect(output).not.toContain('GIT-CONFIG-SECRET');
    expect(output).not.toContain('example.invalid');
    expect(output).toContain('core.repositoryformatversion=0');
    expect(output).toContain(`commit=${commit}`);
    expect(output).toContain('STATUS_OK');
  });

  it('sees none of the host environment: only the allow-listed variables', async () => {
    process.env.GITSWARM_TEST_SECRET = 'hunter2';
    try {
      await attack('env | cut -d= -f1 | sort | tr "\\n" " "; echo "secret=[$GITSWARM_TEST_SECRET]"');
    } finally {
      delete process.env.GITSWARM_TEST_SECRET;
    }
    expect(output).toContain('secret=[]');
    expect(output).not.toContain('hunter2');
    const names = output.split('secret=')[0]?.trim().split(' ') ?? [];
    const allowed = [
      'NODE_EXTRA_CA_CERTS',
      'SSL_CERT_FILE',
      'SSL_CERT_DIR',
      'REQUESTS_CA_BUNDLE',
      'CURL_CA_BUNDLE',
      'PIP_CERT',
      'GIT_SSL_CAINFO',
      'PATH',
      'HOME',
      'TMPDIR',
      'CI',
      'GITSWARM_STABILIZE',
      'LANG',
      'LC_ALL',
      'LC_CTYPE',
      'TERM',
      'TZ',
      'USER',
      'LOGNAME',
      'PWD',
      'SHLVL',
      'OLDPWD',
      '_',
    ];
    expect(names.filter((name) => !allowed.includes(name))).toEqual([]);
    expect(names).toContain('CI');
  });

  it('has no home of the host, no host process in /proc and no Unix socket of the host anywhere', async () => {
    // Only toolchain folders on PATH (such as ~/.cargo) may show from the home, never its files.
    const homeSecret = join(homedir(), `gitswarm-home-secret-${process.pid}`);
    writeFileSync(homeSecret, 'HOME-SECRET\n');
    try {
      await attack(
        [
          `cat ${homeSecret} 2>/dev/null || echo HOME_SECRET_HIDDEN`,
          'test -e /home || echo NO_HOMES',
          'echo "home=$HOME entries=$(ls -A "$HOME" | wc -l)"',
          'echo "procs=$(ls /proc | grep -c "^[0-9]")"',
          'echo "sockets=$(find / \\( -path /proc -o -path /usr \\) -prune -o -type s -print 2>/dev/null | wc -l)"',
        ].join('\n'),
      );
    } finally {
      rmSync(homeSecret, { force: true });
    }
    expect(output).toContain('HOME_SECRET_HIDDEN');
    expect(output).not.toContain('HOME-SECRET');
    expect(output).toContain('NO_HOMES');
    expect(output).toContain('home=/tmp/home entries=0');
    const procs = Number(/procs=(\d+)/.exec(output)?.[1]);
    expect(procs).toBeLessThan(10);
    expect(output).toContain('sockets=0');
  });
});
