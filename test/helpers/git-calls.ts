/**
 * A `git` on the search path that notes each call before running the real one: a test runs code
 * under `env` (withCommandEnv) and reads `calls()` to see how many git processes it started.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GitCallRecorder {
  /** The environment to run under: the recorder first on PATH. */
  env: NodeJS.ProcessEnv;
  /** The argument lines of the calls so far. */
  calls(): string[];
  /** The git command of each call so far (`push`, `merge-tree`), after any `-c name=value`. */
  commands(): string[];
}

export function recordGitCalls(): GitCallRecorder {
  const bin = mkdtempSync(join(tmpdir(), 'gitswarm-git-calls-'));
  const log = join(bin, 'calls');
  writeFileSync(join(bin, 'git'), `#!/bin/sh\necho "$*" >> '${log}'\nexec /usr/bin/git "$@"\n`, {
    mode: 0o755,
  });
  const calls = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
  return {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
    calls,
    commands: () => calls().map((line) => line.replace(/^(-c \S+ )+/, '').split(' ')[0] as string),
  };
}
