/**
 * `npm run demo`: three agents share one repository in Mode A (local only), driven through the
 * real `gitswarm` binary. It shows the review flow, a conflict and its resolution, a stream forked
 * from another one, and promotion to main, printing every command it runs and what it printed.
 * Pass `--keep` to keep the temporary repository for a look around afterwards.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = resolve(fileURLToPath(import.meta.url), '../../../bin/gitswarm.js');
const keep = process.argv.includes('--keep');
const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const bold = paint(1);
const dim = paint(2);
const cyan = paint(36);

const env: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'demo',
  GIT_AUTHOR_EMAIL: 'demo@gitswarm.invalid',
  GIT_COMMITTER_NAME: 'demo',
  GIT_COMMITTER_EMAIL: 'demo@gitswarm.invalid',
  NO_COLOR: '1',
};
delete env.GITSWARM_AGENT;
delete env.GITSWARM_DB;
delete env.DATABASE_URL;

const repo = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-demo-')));

function quote(arg: string): string {
  return /^[\w./:=@,-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

/** Prints a section heading. */
function step(title: string, explanation?: string): void {
  console.log(`\n${bold(`== ${title}`)}`);
  if (explanation) console.log(dim(explanation));
}

/** Runs `gitswarm ARGS` (in `cwd`, relative to the repository), prints the command and its output. */
function gitswarm(args: string[], options: { cwd?: string; expect?: number } = {}): string {
  const cwd = options.cwd ?? repo;
  const where = relative(repo, cwd);
  console.log(`${where ? dim(`(${where}) `) : ''}${cyan('$ gitswarm')} ${args.map(quote).join(' ')}`);
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd, env, encoding: 'utf8' });
  if (result.stdout.trim()) console.log(indent(result.stdout));
  if (result.stderr.trim()) console.log(indent(result.stderr));
  const expected = options.expect ?? 0;
  if (result.status !== expected) {
    throw new Error(`gitswarm ${args.join(' ')} exited ${result.status}, expected ${expected}`);
  }
  if (expected !== 0) console.log(dim(`    (exit ${result.status}, as expected)`));
  return result.stdout;
}

function git(args: string[], cwd = repo, allowFailure = false): string {
  const where = relative(repo, cwd);
  console.log(`${where ? dim(`(${where}) `) : ''}${cyan('$ git')} ${args.map(quote).join(' ')}`);
  const result = spawnSync('git', args, { cwd, env, encoding: 'utf8' });
  const output = `${result.stdout}${result.stderr}`.trim();
  if (output) console.log(indent(output));
  if (result.status !== 0 && !allowFailure) throw new Error(`git ${args.join(' ')} exited ${result.status}`);
  return result.stdout.trim();
}

/** Writes a file as an agent would, and says so. */
function edit(worktree: string, path: string, content: string): void {
  const file = join(worktree, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  console.log(dim(`  (writes ${relative(repo, file)})`));
}

/** `gitswarm workspace create --as AGENT …`; returns the agent's worktree (`.worktrees/<agent>`). */
function createWorkspace(agent: string, ...flags: string[]): string {
  gitswarm(['workspace', 'create', '--as', agent, ...flags]);
  return join(repo, '.worktrees', agent);
}

function main(): void {
  console.log(bold('GitSwarm Mode A demo: three agents, one repository, no server.'));
  console.log(dim(`repository: ${repo}`));
  git(['init', '-q', '-b', 'main']);
  writeFileSync(join(repo, 'README.md'), '# demo service\n');
  writeFileSync(join(repo, 'config.txt'), 'port=8080\n');
  git(['add', '-A']);
  git(['commit', '-q', '-m', 'Initial commit']);

  step('1. Set up', 'Review mode, guild ownership: a maintainer approval merges a stream.');
  gitswarm(['init', '--mode', 'review', '--model', 'guild']);
  gitswarm(['agent', 'register', 'maya', '--desc', 'maintainer and reviewer']);
  gitswarm(['agent', 'register', 'ada', '--desc', 'builds features']);
  gitswarm(['agent', 'register', 'lin', '--desc', 'builds features']);

  step('2. Review flow (spec 3.1)', 'ada works in her own worktree on a stream cut from the buffer.');
  const caching = createWorkspace('ada', '--name', 'caching');
  edit(caching, 'cache.js', 'export const cache = new Map();\n');
  gitswarm(['commit', '-m', 'Add caching layer', '--as', 'ada']);
  gitswarm(['review', 'submit', 'caching', '--as', 'ada']);
  gitswarm(['merge', 'caching', '--as', 'ada'], { expect: 1 });
  gitswarm(['review', 'submit', 'caching', 'approve', '--as', 'maya', '-m', 'LGTM', '--tested']);
  gitswarm(['merge', 'caching', '--as', 'ada']);
  gitswarm(['workspace', 'destroy', '--as', 'ada']);

  step(
    '3. Two agents, one file: a conflict (spec 3.3)',
    'Both change config.txt; the second merge is refused.',
  );
  const auth = createWorkspace('ada', '--name', 'auth');
  const logging = createWorkspace('lin', '--name', 'logging');
  edit(auth, 'config.txt', 'port=8080\nauth=on\n');
  edit(logging, 'config.txt', 'port=8080\nlogging=on\n');
  gitswarm(['commit', '-m', 'Turn on auth', '--as', 'ada']);
  gitswarm(['commit', '-m', 'Turn on logging'], { cwd: logging });
  for (const [stream, agent] of [
    ['auth', 'ada'],
    ['logging', 'lin'],
  ] as const) {
    gitswarm(['review', 'submit', stream, '--as', agent]);
    gitswarm(['review', 'submit', stream, 'approve', '--as', 'maya']);
  }
  gitswarm(['merge', 'auth', '--as', 'ada']);
  gitswarm(['merge', 'logging', '--as', 'lin'], { expect: 1 });
  console.log(dim('  lin resolves the conflict in her worktree and commits; the merge is retried.'));
  git(['merge', '--no-edit', 'buffer'], logging, true);
  edit(logging, 'config.txt', 'port=8080\nauth=on\nlogging=on\n');
  gitswarm(['commit', '-m', 'Resolve config conflict with auth'], { cwd: logging });
  gitswarm(['merge', 'logging', '--as', 'lin']);
  gitswarm(['workspace', 'destroy', '--as', 'ada']);
  gitswarm(['workspace', 'destroy', '--as', 'lin']);

  step('4. Building on unmerged work: a fork (spec 3.6)', "lin's stream depends on ada's and follows it.");
  const api = createWorkspace('ada', '--name', 'base-api');
  edit(api, 'api.js', 'export const routes = ["/items"];\n');
  gitswarm(['commit', '-m', 'Add REST endpoints', '--as', 'ada']);
  const ext = createWorkspace('lin', '--name', 'api-ext', '--depends-on', 'base-api');
  edit(ext, 'rate-limit.js', 'export const limit = 100;\n');
  gitswarm(['commit', '-m', 'Add rate limiting', '--as', 'lin']);
  edit(api, 'middleware.js', 'export const middleware = ["auth"];\n');
  console.log(dim("  ada's next commit cascades: lin's stream is rebased onto it."));
  gitswarm(['commit', '-m', 'Add auth middleware', '--as', 'ada']);
  git(['log', '--oneline', '-3', 'HEAD'], ext);
  gitswarm(['review', 'submit', 'api-ext', '--as', 'lin']);
  gitswarm(['review', 'submit', 'api-ext', 'approve', '--as', 'maya']);
  gitswarm(['merge', 'api-ext', '--as', 'lin'], { expect: 1 });
  gitswarm(['review', 'submit', 'base-api', '--as', 'ada']);
  gitswarm(['review', 'submit', 'base-api', 'approve', '--as', 'maya']);
  gitswarm(['merge', 'base-api', '--as', 'ada']);
  gitswarm(['merge', 'api-ext', '--as', 'lin']);

  step('5. Promote', 'main fast-forwards to the buffer.');
  gitswarm(['status']);
  gitswarm(['promote', '--as', 'maya']);
  git(['log', '--oneline', '--first-parent', '-6', 'main']);
  gitswarm(['activity', '--limit', '8']);
}

try {
  main();
  console.log(`\n${bold('Done.')}${keep ? ` The repository is kept at ${repo}` : ''}`);
} catch (error) {
  console.error(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  if (!keep) rmSync(repo, { recursive: true, force: true });
}
