/**
 * Scale figures (issue 16, part 5), each a ratio measured side by side in one run:
 *  - `gitswarm status` with 10,000 streams against with 10 (the streams seeded straight into the
 *    store: status reads the store, not their branches), target ≤ 1.5;
 *  - `gitswarm workspace create` in a repository of 20,000 files against a bare
 *    `git worktree add` of it, target ≤ 1.3.
 * `node dist/bench/scale.js` runs them alone; bench/run.ts calls `benchScale`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readConfigFile, resolveStoreLocation } from '../src/cli/config-file.js';
import { openCliStore } from '../src/cli/context.js';
import { newId } from '../src/util/ids.js';
import { GIT_IDENTITY } from './git-fixture.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
/** The `gitswarm` command as installed. */
const COMMAND = join(ROOT, 'bin', 'gitswarm');
const ENV = { ...process.env, ...GIT_IDENTITY, NO_COLOR: '1' };

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function gitswarm(cwd: string, ...args: string[]): string {
  return run(COMMAND, args, cwd);
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function tempRepo(files = 1): string {
  const dir = mkdtempSync(join(tmpdir(), 'gitswarm-scale-'));
  run('git', ['init', '-q', '-b', 'main'], dir);
  writeFileSync(join(dir, 'README.md'), '# bench\n');
  for (let i = 1; i < files; i++) {
    const sub = join(dir, 'src', String(Math.floor(i / 500)));
    if (i % 500 === 0 || i === 1) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `file${i}.txt`), `file ${i}\n`);
  }
  run('git', ['add', '-A'], dir);
  run('git', ['commit', '-q', '-m', 'initial'], dir);
  return dir;
}

/** Seeds `count` streams (9 in 10 active, the rest in review) of 100 agents straight into the store. */
async function seedStreams(repoDir: string, count: number): Promise<void> {
  const config = readConfigFile(repoDir);
  if (!config) throw new Error(`no gitswarm config in ${repoDir}`);
  const store = await openCliStore(resolveStoreLocation(repoDir, config, process.env));
  try {
    const now = new Date().toISOString();
    const agents = Array.from({ length: 100 }, (_, i) => ({
      id: newId(),
      name: `seed${i}`,
      name_folded: `seed${i}`,
      created_at: now,
    }));
    await store.db.insertInto('gitswarm_agents').values(agents).execute();
    for (let start = 0; start < count; start += 500) {
      const rows = Array.from({ length: Math.min(500, count - start) }, (_, k) => {
        const i = start + k;
        const id = newId();
        return {
          id,
          repo_id: config.repo_id,
          agent_id: (agents[i % agents.length] as { id: string }).id,
          name: `seeded-${i}`,
          branch: `stream/${id}`,
          status: i % 10 === 9 ? ('in_review' as const) : ('active' as const),
          review_status: i % 10 === 9 ? ('in_review' as const) : null,
          base_branch: 'buffer',
          created_at: new Date(Date.parse(now) + i).toISOString(),
          updated_at: now,
        };
      });
      await store.db.insertInto('gitswarm_streams').values(rows).execute();
    }
  } finally {
    await store.close();
  }
}

/** A repository with `gitswarm init` and `count` seeded streams. */
async function statusRepo(count: number): Promise<string> {
  const repo = tempRepo();
  gitswarm(repo, 'init', '--model', 'solo');
  gitswarm(repo, 'agent', 'register', 'owner');
  await seedStreams(repo, count);
  return repo;
}

/** `gitswarm status` with 10 vs 10,000 streams, alternating runs, medians of 7 each. */
export async function benchStatusScaling(small = 10, large = 10_000): Promise<Record<string, number>> {
  const few = await statusRepo(small);
  const many = await statusRepo(large);
  try {
    const fewMs: number[] = [];
    const manyMs: number[] = [];
    let lines = 0;
    for (let round = 0; round < 8; round++) {
      for (const [repo, into] of [
        [few, fewMs],
        [many, manyMs],
      ] as const) {
        const start = process.hrtime.bigint();
        const out = gitswarm(repo, 'status');
        const took = ms(start);
        if (round > 0) into.push(took); // the first round warms the compile cache and the page cache
        if (repo === many) lines = out.split('\n').length;
      }
    }
    const json = JSON.parse(gitswarm(many, 'status', '--json')) as { counts: { streams: { live: number } } };
    if (json.counts.streams.live !== large)
      throw new Error(`status counted ${json.counts.streams.live} streams`);
    const smallMs = median(fewMs);
    const largeMs = median(manyMs);
    return {
      [`streams_${small}_ms`]: smallMs,
      [`streams_${large}_ms`]: largeMs,
      ratio: largeMs / smallMs,
      lines,
    };
  } finally {
    rmSync(few, { recursive: true, force: true });
    rmSync(many, { recursive: true, force: true });
  }
}

/** `gitswarm workspace create` vs `git worktree add -b` in a repository of `files` files, medians of 4. */
export async function benchWorkspaceCreate(files = 20_000): Promise<Record<string, number>> {
  const repo = tempRepo(files);
  try {
    gitswarm(repo, 'init', '--model', 'solo');
    const gitMs: number[] = [];
    const gitswarmMs: number[] = [];
    // Each checkout writes 20,000 files: flush the previous one's first (untimed), and take
    // turns going first, so neither side pays for the other's writeback.
    const timeBare = (round: number) => {
      run('sync', [], repo);
      const start = process.hrtime.bigint();
      run('git', ['worktree', 'add', '-q', '-b', `bare${round}`, `${repo}-bare${round}`, 'HEAD'], repo);
      return ms(start);
    };
    const timeCreate = (round: number) => {
      run('sync', [], repo);
      const start = process.hrtime.bigint();
      gitswarm(repo, 'workspace', 'create', '--as', `agent${round}`);
      return ms(start);
    };
    for (let round = 0; round < 5; round++) {
      gitswarm(repo, 'agent', 'register', `agent${round}`);
      let bare: number;
      let created: number;
      if (round % 2 === 0) {
        bare = timeBare(round);
        created = timeCreate(round);
      } else {
        created = timeCreate(round);
        bare = timeBare(round);
      }
      if (round > 0) {
        gitMs.push(bare);
        gitswarmMs.push(created);
      }
      run('git', ['worktree', 'remove', '--force', `${repo}-bare${round}`], repo);
      gitswarm(repo, 'workspace', 'destroy', '--as', `agent${round}`);
    }
    const tracked = Number(run('git', ['ls-files'], repo).split('\n').length - 1);
    const gitMedian = median(gitMs);
    const gitswarmMedian = median(gitswarmMs);
    return {
      files: tracked,
      git_worktree_add_ms: gitMedian,
      workspace_create_ms: gitswarmMedian,
      ratio: gitswarmMedian / gitMedian,
    };
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
}

/** The scale figures as [title, figures, target] rows, for bench/run.ts's printer. */
export async function benchScale(): Promise<[string, Record<string, number | string>, string][]> {
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  return [
    ['(s1) status with 10 vs 10,000 streams', { ...(await benchStatusScaling()), load }, 'ratio ≤ 1.5'],
    ['(s2) workspace create vs git worktree add, 20,000 files', await benchWorkspaceCreate(), 'ratio ≤ 1.3'],
  ];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const [title, figures, target] of await benchScale()) {
    const parts = Object.entries(figures).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toFixed(2) : v}`);
    console.log(`${title}: ${parts.join('  ')}  (target ${target})`);
  }
}
