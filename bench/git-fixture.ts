/**
 * The benchmarks' git: the identity their commits carry, a temporary repository, and the raw-git
 * baseline of the swarm figures ((b), (b'), (g)): the commits and merges a swarm of `agents` ×
 * `commits` makes, done by plain git one after another in a single checkout. Each figure times it
 * right after its own run, so the machine's drift between phases stays out of the ratio (measured
 * minutes apart, the baseline alone moved from 5.2 to 8.5 s in one run).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Who the benchmarks' commits are by, whatever the machine's git configuration says. */
export const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'bench',
  GIT_AUTHOR_EMAIL: 'bench@example.invalid',
  GIT_COMMITTER_NAME: 'bench',
  GIT_COMMITTER_EMAIL: 'bench@example.invalid',
};

const GIT_ENV: NodeJS.ProcessEnv = { ...process.env, ...GIT_IDENTITY };

function git(args: string[], cwd: string): void {
  execFileSync('git', args, { cwd, env: GIT_ENV, stdio: 'ignore' });
}

/** A temporary repository with one commit on main. */
export function tempRepo(prefix = 'gitswarm-bench-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  git(['init', '-q', '-b', 'main'], dir);
  writeFileSync(join(dir, 'README.md'), '# bench\n');
  git(['add', '-A'], dir);
  git(['commit', '-q', '-m', 'initial'], dir);
  return dir;
}

/** Milliseconds the raw-git script takes: per round, each agent commits on its branch, then it is merged (no-ff) into the buffer. */
export function rawGitSwarm(agents: number, commits: number): number {
  const raw = tempRepo('gitswarm-bench-raw-');
  try {
    git(['branch', 'buffer'], raw);
    for (let a = 0; a < agents; a++) git(['branch', `agent${a}`], raw);
    const start = process.hrtime.bigint();
    for (let c = 0; c < commits; c++) {
      for (let a = 0; a < agents; a++) {
        git(['checkout', '-q', `agent${a}`], raw);
        writeFileSync(join(raw, `agent${a}.txt`), `commit ${c}\n`);
        git(['add', '-A'], raw);
        git(['commit', '-q', '-m', `agent${a} commit ${c}`], raw);
        git(['checkout', '-q', 'buffer'], raw);
        git(['merge', '-q', '--no-ff', '-m', `merge agent${a}`, `agent${a}`], raw);
      }
    }
    return Number(process.hrtime.bigint() - start) / 1e6;
  } finally {
    rmSync(raw, { recursive: true, force: true });
  }
}
