/**
 * `npm run test:mutation [-- <module>... | --list | --force]`: runs Stryker on the modules of
 * scripts/mutation-modules.mjs, one module per Stryker run (each with its own tests, incremental
 * file and report under reports/mutation/<module>/), then prints the score per module.
 * Incremental: a second run re-tests only mutants whose code or covering tests changed; `--force`
 * re-tests everything.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MODULE_ORDER, MODULES } from './mutation-modules.mjs';
import { formatScore, formatSummary, summarize } from './mutation-score.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const STRYKER = fileURLToPath(
  new URL('../node_modules/@stryker-mutator/core/bin/stryker.js', import.meta.url),
);

/** Runs Stryker for one module; resolves with its exit code (null when killed at the deadline). */
export function runStryker(moduleName, { mutate, force = false, deadline } = {}) {
  const args = [STRYKER, 'run', 'stryker.config.mjs'];
  if (force) args.push('--force');
  // SQLite only unless DIALECTS says otherwise: it halves the time per mutant, and a mutant the
  // SQLite run misses counts as survived, so the score is a lower bound for both dialects.
  const env = { DIALECTS: 'sqlite', ...process.env, MUTATION_MODULE: moduleName };
  if (mutate) env.MUTATION_MUTATE = mutate.join(',');
  return new Promise((resolve, reject) => {
    // Own process group, so the deadline stops Stryker together with its runner and checker.
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: 'inherit', detached: true });
    let timer;
    let stopped = false;
    if (deadline !== undefined) {
      timer = setTimeout(
        () => {
          stopped = true;
          console.error(`mutation: ${moduleName} passed the time limit, stopping Stryker`);
          try {
            process.kill(-child.pid, 'SIGTERM');
          } catch {}
        },
        Math.max(0, deadline - Date.now()),
      );
    }
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Stryker may catch the SIGTERM and exit 143 itself: stopped at the deadline all the same.
      resolve(signal || stopped ? null : code);
    });
  });
}

export function reportPath(moduleName) {
  return `${root}${process.env.MUTATION_REPORTS ?? 'reports/mutation'}/${moduleName}/mutation.json`;
}

function formatDuration(ms) {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

async function main(argv) {
  if (argv.includes('--list')) {
    for (const name of MODULE_ORDER) console.log(`${name.padEnd(14)} ${MODULES[name].mutate.join(' ')}`);
    return 0;
  }
  const force = argv.includes('--force');
  const names = argv.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !MODULES[n]);
  if (unknown.length) {
    console.error(`mutation: unknown module(s) ${unknown.join(', ')}; known: ${MODULE_ORDER.join(', ')}`);
    return 2;
  }
  const results = [];
  for (const name of names.length ? names : MODULE_ORDER) {
    const started = Date.now();
    const code = await runStryker(name, { force });
    results.push({ name, code, ms: Date.now() - started, summary: summarize(reportPath(name)) });
  }
  console.log('\nmodule         score    time     (detected/valid mutants)');
  for (const { name, code, ms, summary } of results) {
    const score = summary ? formatScore(summary.total.score) : 'failed';
    const counts = summary ? `${summary.total.detected}/${summary.total.valid}` : `stryker exit ${code}`;
    console.log(`${name.padEnd(14)} ${score.padEnd(8)} ${formatDuration(ms).padEnd(8)} ${counts}`);
  }
  for (const { name, summary } of results) if (summary) console.log(`\n${formatSummary(name, summary)}`);
  return results.every((r) => r.code === 0) ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
