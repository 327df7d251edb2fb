/**
 * The command tree and the shared plumbing, in-process: help, usage errors (exit 2 with usage),
 * error rendering and exit codes, `--json` documents, and the text helpers.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { CliSession } from '../../src/cli/action.js';
import { resolveStoreLocation } from '../../src/cli/config-file.js';
import { reportError } from '../../src/cli/errors.js';
import { createBufferedIO, wantsColor } from '../../src/cli/io.js';
import { createStyle, fields, safeText, table, visibleLength } from '../../src/cli/output.js';
import { buildProgram } from '../../src/cli/program.js';
import { GitSwarmError } from '../../src/errors.js';
import { createTempDir } from './helpers.js';
import { runInProcess } from './in-process.js';

const outside = createTempDir();
afterAll(() => outside.close());

describe('gitswarm command tree', () => {
  it('lists every noun in --help and exits 0', async () => {
    const run = await runInProcess(['--help'], { cwd: outside.dir });
    expect(run.code).toBe(0);
    for (const noun of ['init', 'status', 'config', 'agent', 'maintainer', 'access', 'workspace', 'commit']) {
      expect(run.stdout).toContain(noun);
    }
    for (const noun of ['review', 'consensus', 'diff', 'merge', 'promote', 'activity']) {
      expect(run.stdout).toContain(noun);
    }
    expect(run.stdout).toContain('--json');
    expect(run.stdout).toContain('--as <agent>');
  });

  it('defines only the noun a command line names, under the name --help lists it by', () => {
    const session: CliSession = { io: createBufferedIO({ cwd: outside.dir }), json: false, exitCode: 0 };
    const nouns = buildProgram(session, ['--help']).commands.map((command) => command.name());
    expect(nouns).toHaveLength(24);
    for (const noun of nouns) {
      const only = buildProgram(session, ['--as', 'ada', noun, 'list']).commands;
      expect(only.map((command) => command.name())).toEqual([noun]);
      // Asking for help, or naming no noun, defines them all.
      expect(buildProgram(session, [noun, '-h']).commands).toHaveLength(nouns.length);
    }
    expect(buildProgram(session, ['stauts']).commands).toHaveLength(nouns.length);
    expect(buildProgram(session, ['--json']).commands).toHaveLength(nouns.length);
  });

  it('shows the global options in a verb’s help', async () => {
    const run = await runInProcess(['review', 'submit', '--help'], { cwd: outside.dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: gitswarm review submit [options] <stream> [verdict]');
    expect(run.stdout).toContain('--as <agent>');
  });

  it('prints the version', async () => {
    const run = await runInProcess(['--version'], { cwd: outside.dir });
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('exits 2 with the usage on an unknown option', async () => {
    const run = await runInProcess(['agent', 'register', 'x', '--bogus'], { cwd: outside.dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("error: unknown option '--bogus'");
    expect(run.stderr).toContain('Usage: gitswarm agent register [options] <name>');
    expect(run.stdout).toBe('');
  });

  it('answers a mistyped command with the suggestion and a one-line usage, not the whole help', async () => {
    const verb = await runInProcess(['workspace', 'craete', '--as', 'ada'], { cwd: outside.dir });
    expect(verb.code).toBe(2);
    expect(verb.stderr).toBe(
      "error: unknown command 'craete'\n(Did you mean create?)\n" +
        'Usage: gitswarm workspace [options] [command]\nSee: gitswarm workspace --help\n',
    );
    const noun = await runInProcess(['stauts'], { cwd: outside.dir });
    expect(noun.code).toBe(2);
    expect(noun.stderr).toContain('(Did you mean status?)');
    expect(noun.stderr).toContain('Usage: gitswarm [options] [command]\n');
    expect(noun.stderr).not.toContain('Commands:');
    expect(noun.stderr.trim().split('\n')).toHaveLength(4);
  });

  it('exits 2 on an unknown command, a missing verb and a missing argument', async () => {
    expect((await runInProcess(['frobnicate'], { cwd: outside.dir })).code).toBe(2);
    expect((await runInProcess(['agent'], { cwd: outside.dir })).code).toBe(2);
    const missing = await runInProcess(['merge'], { cwd: outside.dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'stream'");
  });

  it('prints a usage error as one JSON document with --json', async () => {
    const run = await runInProcess(['commit', '--json'], { cwd: outside.dir });
    expect(run.code).toBe(2);
    expect(run.json()).toEqual({
      error: { code: 'usage', message: expect.stringContaining("required option '-m, --message <message>'") },
    });
  });

  it('exits 3 outside a git repository, as text and as JSON', async () => {
    const text = await runInProcess(['status'], { cwd: outside.dir });
    expect(text.code).toBe(3);
    expect(text.stderr).toMatch(/^error: Not inside a git repository: /);
    expect(text.stderr).toContain('hint: ');
    const json = await runInProcess(['status', '--json'], { cwd: outside.dir });
    expect(json.code).toBe(3);
    expect(json.json<{ error: { code: string } }>().error.code).toBe('not_a_git_repo');
  });
});

describe('error rendering', () => {
  it('maps each error to its catalogue exit code with message, paths and hint', () => {
    const io = createBufferedIO({ cwd: '/' });
    const error = new GitSwarmError('conflict', 'Stream abc conflicts with buffer.', {
      hint: 'Resolve, commit, retry.',
      details: { paths: ['src/a.ts', 'b.txt'] },
    });
    expect(reportError(io, false, error)).toBe(1);
    expect(io.err.join('')).toBe(
      'error: Stream abc conflicts with buffer.\n  src/a.ts\n  b.txt\nhint: Resolve, commit, retry.\n',
    );
    expect(reportError(io, false, new GitSwarmError('usage', 'Bad.'))).toBe(2);
    expect(reportError(io, false, new GitSwarmError('agent_not_found', 'No agent.'))).toBe(3);
    expect(reportError(io, false, new GitSwarmError('server_unreachable', 'Down.'))).toBe(4);
  });

  it('prints {"error": {...}} on stdout with --json, details included', () => {
    const io = createBufferedIO({ cwd: '/' });
    const error = new GitSwarmError('no_consensus', 'Not yet.', { details: { approvals: 0 } });
    expect(reportError(io, true, error)).toBe(1);
    expect(JSON.parse(io.out.join(''))).toEqual({
      error: { code: 'no_consensus', message: 'Not yet.', hint: error.hint, approvals: 0 },
    });
    expect(io.err).toEqual([]);
  });

  it('treats anything else as an internal error (exit 1)', () => {
    const io = createBufferedIO({ cwd: '/' });
    expect(reportError(io, true, new Error('boom'))).toBe(1);
    expect(JSON.parse(io.out.join(''))).toEqual({ error: { code: 'internal_error', message: 'boom' } });
  });

  it('escapes control characters in messages', () => {
    const io = createBufferedIO({ cwd: '/' });
    reportError(io, false, new GitSwarmError('invalid_name', 'Invalid name "a\u001b[31mb".'));
    expect(io.err.join('')).toContain('"a\\x1b[31mb"');
  });
});

describe('output helpers', () => {
  it('aligns columns, ignoring colour codes', () => {
    const style = createStyle(true);
    const text = table([
      [style.red('a'), 'long value', 'x'],
      ['bbbb', 'v', 'y'],
    ]);
    expect(text.split('\n').map((line) => visibleLength(line))).toEqual([19, 19]);
    expect(
      fields([
        ['key', 'v'],
        ['longer', null],
      ]),
    ).toBe('key     v\nlonger  -');
  });

  it('colours only on a TTY without NO_COLOR or TERM=dumb; FORCE_COLOR wins', () => {
    expect(wantsColor(true, {})).toBe(true);
    expect(wantsColor(false, {})).toBe(false);
    expect(wantsColor(true, { NO_COLOR: '1' })).toBe(false);
    expect(wantsColor(true, { TERM: 'dumb' })).toBe(false);
    expect(wantsColor(false, { FORCE_COLOR: '1' })).toBe(true);
    expect(createStyle(false).red('x')).toBe('x');
  });

  it('escapes control characters but keeps tabs, newlines and text', () => {
    expect(safeText('ok\tline\nnext \u0007bell \u007f')).toBe('ok\tline\nnext \\x07bell \\x7f');
  });
});

describe('store location', () => {
  const root = '/repo';
  it('prefers GITSWARM_DB, then the config, then DATABASE_URL, then .gitswarm/federation.db', () => {
    expect(resolveStoreLocation(root, null, {})).toBe('/repo/.gitswarm/federation.db');
    expect(resolveStoreLocation(root, null, { DATABASE_URL: 'postgres://h/db' })).toBe('postgres://h/db');
    expect(
      resolveStoreLocation(
        root,
        { repo_id: 'r', database: '.gitswarm/x.db' },
        { DATABASE_URL: 'postgres://h/db' },
      ),
    ).toBe('/repo/.gitswarm/x.db');
    expect(
      resolveStoreLocation(root, { repo_id: 'r', database: 'data/x.db' }, { GITSWARM_DB: 'pglite:s' }),
    ).toBe('pglite:s');
  });
});
