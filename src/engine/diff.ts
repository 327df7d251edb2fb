/** Diffs of a stream against its base (`git diff base...head`: changes since the merge base). */
import { git } from './git.js';
import { assertRevision } from './names.js';

// No external diff drivers or textconv filters: those run commands from repository config.
const SAFE_DIFF = ['diff', '--no-color', '--no-ext-diff', '--no-textconv'];

/** The patch (or `--stat` summary) of `head` since its merge base with `base`. */
export async function diffRange(
  repoDir: string,
  base: string,
  head: string,
  options: { stat?: boolean } = {},
): Promise<string> {
  assertRevision(base);
  assertRevision(head);
  const result = await git([...SAFE_DIFF, ...(options.stat ? ['--stat'] : []), `${base}...${head}`, '--'], {
    cwd: repoDir,
  });
  return result.stdout;
}

/** The paths `head` changed since its merge base with `base`. */
export async function changedFiles(repoDir: string, base: string, head: string): Promise<string[]> {
  assertRevision(base);
  assertRevision(head);
  // Raw output: trimming could eat a path's leading or trailing spaces.
  const result = await git([...SAFE_DIFF, '--name-only', '-z', `${base}...${head}`, '--'], { cwd: repoDir });
  return result.stdout.split('\0').filter((path) => path !== '');
}
