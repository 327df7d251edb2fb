import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/worker-git-setup.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Each worker runs file after file, loading shared modules once (2026-12-04: 1,285 and 1,438 s
    // against 1,377 and 1,402 s with a process per file, within the runs' drift, and less CPU work).
    // Files that change process.env put it back.
    isolate: false,
    // Both cores: most files wait on git, child processes or the database, so two workers keep the
    // machine busy (CI's 2 cores: about half the time of one worker).
    maxWorkers: 2,
  },
});
