/**
 * `npm run test:mutation:changed [-- --base <ref>] [--minutes <n>] [--break <score>]`
 *
 * Mutates only the lines of the source files changed against a base ref (the merge base of
 * <ref> and HEAD, compared with the working tree), for the files under mutation testing
 * (scripts/mutation-modules.mjs), with each file's module tests. Bounded in time: Stryker is
 * stopped at the deadline (default 10 minutes) and the check reports it did not finish.
 *
 * Base: --base, else MUTATION_BASE, else `main` when it exists, else HEAD~1.
 * Exit: 0 when the score of the mutants on changed lines is at least --break (default 85), or there
 * are none; 1 below it or when Stryker failed (even if time ran out for other modules); 2 on bad
 * arguments; 3 when the time ran out and nothing judged failed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MODULE_ORDER, MODULES } from './mutation-modules.mjs';
import { reportPath, runStryker } from './mutation-run.mjs';
import { formatScore, summarize } from './mutation-score.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

function git(...args) {
  return gitIn(root, ...args);
}

function gitIn(cwd, ...args) {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function refExists(ref) {
  try {
    git('rev-parse', '--verify', '--quiet', `${ref}^{commit}`);
    return true;
  } catch {
    return false;
  }
}

function option(argv, name, fallback) {
  const i = argv.indexOf(name);
  if (i === -1) return fallback;
  const value = argv[i + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`);
  return value;
}

/** Glob of mutation-modules.mjs → RegExp (only `*` and `**` are used there). */
function globToRegExp(glob) {
  const source = glob
    .split('**/')
    .map((part) =>
      part
        .split('*')
        .map((text) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*'),
    )
    .join('(?:.*/)?');
  return new RegExp(`^${source}$`);
}

export function moduleOf(file) {
  return MODULE_ORDER.find((name) => MODULES[name].mutate.some((glob) => globToRegExp(glob).test(file)));
}

/**
 * Changed line ranges (new side) per file, from `git diff -U0 <base>` against the working tree. A
 * moved file counts only its lines changed in the move (renames are followed), not all of them.
 */
export function changedRanges(base, cwd = root) {
  const diff = gitIn(cwd, 'diff', '-U0', '--no-color', '-M', '--diff-filter=AMR', base, '--', 'src');
  const ranges = new Map();
  let file;
  for (const line of diff.split('\n')) {
    if (line.startsWith('+++ ')) {
      file = line.startsWith('+++ b/') ? line.slice(6) : undefined;
      continue;
    }
    const hunk = /^@@ -\S+ \+(\d+)(?:,(\d+))? @@/.exec(line);
    if (!hunk || !file) continue;
    const start = Number(hunk[1]);
    const count = hunk[2] === undefined ? 1 : Number(hunk[2]);
    if (count === 0) continue; // lines only removed: nothing left to mutate there
    if (!ranges.has(file)) ranges.set(file, []);
    ranges.get(file).push([start, start + count - 1]);
  }
  return ranges;
}

function inRanges(ranges, line) {
  return ranges.some(([start, end]) => line >= start && line <= end);
}

async function main(argv) {
  const requested = option(argv, '--base', process.env.MUTATION_BASE);
  const baseRef = requested ?? (refExists('main') ? 'main' : 'HEAD~1');
  if (!refExists(baseRef)) {
    console.error(`mutation:changed: base ref ${baseRef} does not exist`);
    return 2;
  }
  const base = git('merge-base', baseRef, 'HEAD').trim();
  const minutes = Number(option(argv, '--minutes', '10'));
  const breakAt = Number(option(argv, '--break', '85'));
  if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got ${minutes}`);
  if (!(breakAt >= 0 && breakAt <= 100)) throw new Error(`--break must be from 0 to 100, got ${breakAt}`);
  const deadline = Date.now() + minutes * 60_000;

  const byModule = new Map();
  for (const [file, ranges] of changedRanges(base)) {
    if (!file.endsWith('.ts')) continue;
    const name = moduleOf(file);
    if (!name) {
      console.log(`mutation:changed: ${file} is not under mutation testing (scripts/mutation-modules.mjs)`);
      continue;
    }
    if (MODULES[name].gated === false) {
      console.log(
        `mutation:changed: ${file}: module ${name} is below the target and not judged yet (gated: false)`,
      );
      continue;
    }
    if (!byModule.has(name)) byModule.set(name, new Map());
    byModule.get(name).set(file, ranges);
  }
  if (byModule.size === 0) {
    console.log(
      `mutation:changed: no change to a file under mutation testing since ${baseRef} (${base.slice(0, 10)})`,
    );
    return 0;
  }

  let timedOut = false;
  let failed = false;
  const lines = [];
  for (const name of MODULE_ORDER.filter((n) => byModule.has(n))) {
    const files = byModule.get(name);
    if (Date.now() >= deadline) {
      timedOut = true;
      lines.push(`${name.padEnd(14)} not run: time limit`);
      continue;
    }
    const mutate = [...files].flatMap(([file, ranges]) => ranges.map(([s, e]) => `${file}:${s}-${e}`));
    console.log(`mutation:changed: ${name}: ${mutate.join(' ')}`);
    const code = await runStryker(name, { mutate, deadline });
    if (code === null) {
      timedOut = true;
      lines.push(`${name.padEnd(14)} stopped: time limit`);
      continue;
    }
    const summary = code === 0 ? summarize(reportPath(name)) : null;
    if (!summary) {
      failed = true;
      lines.push(`${name.padEnd(14)} Stryker failed (exit ${code})`);
      continue;
    }
    // The report covers the whole module (earlier results are kept); judge the changed lines.
    const changed = { detected: 0, valid: 0, survivors: [] };
    const report = JSON.parse(readFileSync(reportPath(name), 'utf8'));
    for (const [file, { mutants: list }] of Object.entries(report.files)) {
      const ranges = files.get(file);
      if (!ranges) continue;
      for (const m of list) {
        if (!inRanges(ranges, m.location.start.line)) continue;
        if (m.status === 'Killed' || m.status === 'Timeout') changed.detected++;
        if (m.status === 'Survived' || m.status === 'NoCoverage') {
          changed.survivors.push(
            `${file}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} (${m.status})`,
          );
        }
      }
    }
    changed.valid = changed.detected + changed.survivors.length;
    const score = changed.valid === 0 ? null : (100 * changed.detected) / changed.valid;
    if (score !== null && score < breakAt) failed = true;
    lines.push(
      `${name.padEnd(14)} changed lines ${formatScore(score)} (${changed.detected}/${changed.valid}); ` +
        `module ${formatScore(summary.total.score)}`,
    );
    for (const s of changed.survivors) lines.push(`  survived: ${s}`);
  }
  console.log(`\nmutation:changed since ${baseRef} (${base.slice(0, 10)}), break at ${breakAt}%:`);
  for (const line of lines) console.log(line);
  if (timedOut) console.log(`mutation:changed: did not finish within ${minutes} minutes`);
  // A low score on the lines that were judged fails even when time ran out for the rest.
  if (failed) return 1;
  return timedOut ? 3 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2)).catch((error) => {
    console.error(`mutation:changed: ${error.message}`);
    return 2;
  });
}
