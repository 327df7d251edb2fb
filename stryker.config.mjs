/**
 * Stryker (mutation testing) for the modules that hold the rules (docs/testing.md).
 * Run it through `npm run test:mutation` (scripts/mutation-run.mjs), which runs one module at a time:
 * MUTATION_MODULE names the module (scripts/mutation-modules.mjs) and MUTATION_MUTATE may narrow
 * the mutated files or lines (`src/core/streams/consensus.ts:40-60`). Without MUTATION_MODULE every module's
 * files are mutated in one run against all their tests (slow: hours on two cores).
 */
import './scripts/mutation-ts7-bridge.mjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { MODULE_ORDER, MODULES } from './scripts/mutation-modules.mjs';

const moduleName = process.env.MUTATION_MODULE;
if (moduleName && !MODULES[moduleName]) {
  throw new Error(`MUTATION_MODULE=${moduleName} is not one of: ${MODULE_ORDER.join(', ')}`);
}
const selected = moduleName ? [MODULES[moduleName]] : MODULE_ORDER.map((name) => MODULES[name]);
// MUTATION_REPORTS moves the reports and incremental files (a fresh directory = a run without history, as in CI).
const reportDir = `${process.env.MUTATION_REPORTS ?? 'reports/mutation'}/${moduleName ?? 'all'}`;
const narrowed = process.env.MUTATION_MUTATE?.split(',').filter(Boolean);

/**
 * The checker type-checks the mutated files and what they import, not the whole project: with the
 * whole of src it took ~18 s per mutant here, with one module ~5 s. A mutant that would only break
 * a caller's types is then tested instead of dropped (it is still counted, and shows as a survivor
 * only if no test notices it). A module's `typeContext` adds files its mutated files rely on without
 * importing them (module augmentations such as the server's `declare module 'fastify'`).
 */
function checkerTsconfig() {
  mkdirSync(reportDir, { recursive: true });
  const file = `${reportDir}/tsconfig.check.json`;
  // From the report directory back to the project (MUTATION_REPORTS may be absolute, anywhere).
  const up = relative(resolve(reportDir), process.cwd()) || '.';
  const include = selected
    .flatMap((module) => [...module.mutate, ...(module.typeContext ?? [])])
    .map((glob) => `${up}/${glob}`);
  writeFileSync(file, `${JSON.stringify({ extends: `${up}/tsconfig.json`, include }, null, 2)}\n`);
  return file;
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.config.ts', related: false },
  // Per-test coverage: a mutant runs only the tests that reached it.
  coverageAnalysis: 'perTest',
  checkers: ['typescript'],
  tsconfigFile: checkerTsconfig(),
  // TypeScript 7 (the project's compiler) checks the mutants; the bridge supplies what the checker
  // still expects from TypeScript 6 (see scripts/mutation-ts7-bridge.mjs).
  typescriptChecker: { experimentalNativePreview: true },
  checkerNodeArgs: ['--import', './scripts/mutation-ts7-bridge.mjs'],
  mutate: narrowed ?? selected.flatMap((module) => module.mutate),
  testFiles: [...new Set(selected.flatMap((module) => module.tests))],
  // Two cores are shared: one test-runner process, one checker.
  concurrency: 1,
  // Static mutants (module-level constants) are never activated by the vitest runner with vitest 5
  // here: REVERT_PENALTY = +10 "survived" the test that asserts -10. Counting them would report
  // bugs the tests do catch; they are listed as ignored instead (docs/testing.md).
  ignoreStatic: true,
  incremental: true,
  incrementalFile: `${reportDir}/incremental.json`,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `${reportDir}/mutation.html` },
  jsonReporter: { fileName: `${reportDir}/mutation.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  thresholds: { high: 85, low: 70, break: null },
  // Tests use real git and real databases on a busy machine: leave room before calling a mutant a timeout.
  timeoutMS: 15_000,
  dryRunTimeoutMinutes: 20,
  ignorePatterns: ['/dist', '/.tools', '/.worktrees', '/.gitswarm', '/coverage', '/bench', '/demo'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
