/**
 * The one way GitSwarm runs git: `spawn('git', args)` with no shell, a fixed locale and no
 * prompts, from this process or from the helper process of git-spawner.ts. User-given values
 * never reach git unvalidated (see names.ts and paths.ts).
 */
import { spawn } from 'node:child_process';
import { GitSwarmError } from '../errors.js';
import { commandEnv } from '../util/command-env.js';
import { gitSpawner, type SpawnedRun } from './git-spawner.js';

export interface GitResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface GitOptions {
  /** Working directory (a repository, a worktree, or anywhere with GIT_DIR in env). */
  cwd: string;
  /** Written to git's standard input. */
  input?: string;
  /** Piped into git's standard input instead of `input`. */
  stream?: NodeJS.ReadableStream;
  /** Receives standard output as it comes, which the result then leaves out (a diff hashed as git writes it). */
  onStdout?: (chunk: Buffer) => void;
  env?: Record<string, string | undefined>;
  /** Exit codes that are results rather than failures (e.g. 1 for `merge-tree` conflicts). */
  okExitCodes?: readonly number[];
  /** Aborting kills git (SIGKILL); the call then rejects with `git_failed`. */
  signal?: AbortSignal;
}

/**
 * Config for a git command that must run no hooks: hooks are code from the repository or its
 * user, and what GitSwarm runs of that code runs in the sandbox or not at all.
 */
export const WITHOUT_HOOKS = ['-c', 'core.hooksPath=/dev/null'] as const;

const BASE_ENV = {
  LC_ALL: 'C',
  GIT_TERMINAL_PROMPT: '0',
  GIT_OPTIONAL_LOCKS: '0',
  GIT_EDITOR: 'true',
};

/** Runs git and returns its output; a non-zero exit not listed in `okExitCodes` throws `git_failed`. */
export async function git(args: readonly string[], options: GitOptions): Promise<GitResult> {
  const result = await gitRaw(args, options);
  return { ...result, stdout: result.stdout.toString('utf8') };
}

/** Runs git and returns its standard output as bytes (blob contents need not be text). */
export async function gitBytes(args: readonly string[], options: GitOptions): Promise<Buffer> {
  return (await gitRaw(args, options)).stdout;
}

function gitRaw(
  args: readonly string[],
  options: GitOptions,
): Promise<{ stdout: Buffer; stderr: string; exitCode: number }> {
  return new Promise((resolve, reject) => {
    const env = { ...commandEnv(), ...BASE_ENV, ...options.env };
    const spawner = options.stream ? undefined : gitSpawner();
    const child: SpawnedRun = spawner
      ? spawner.run('git', args, {
          cwd: options.cwd,
          env,
          input: options.input ?? '',
          signal: options.signal,
        })
      : spawnHere(args, options, env);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', options.onStdout ?? ((chunk: Buffer) => stdout.push(chunk)));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) =>
      reject(new GitSwarmError('git_failed', `Could not run git: ${error.message}`, { cause: error })),
    );
    child.on('close', (code) => {
      const result = {
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr).toString('utf8'),
        exitCode: code ?? 128,
      };
      if (result.exitCode === 0 || options.okExitCodes?.includes(result.exitCode)) resolve(result);
      else {
        const firstLine = result.stderr.trim().split('\n')[0] ?? '';
        reject(
          new GitSwarmError(
            'git_failed',
            `git ${commandName(args)} failed (exit ${result.exitCode}): ${firstLine}`,
            {
              details: { git_args: args, git_stderr: result.stderr.trim(), git_exit: result.exitCode },
            },
          ),
        );
      }
    });
  });
}

/** The git command `args` run, after any `-c name=value` (`worktree`, not `-c`). */
function commandName(args: readonly string[]): string {
  let i = 0;
  while (args[i] === '-c') i += 2;
  return args[i] ?? '';
}

/** Starts git in this process (see git-spawner.ts for when a helper starts it instead). */
function spawnHere(args: readonly string[], options: GitOptions, env: NodeJS.ProcessEnv): SpawnedRun {
  const child = spawn('git', args, {
    cwd: options.cwd,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(options.signal ? { signal: options.signal, killSignal: 'SIGKILL' as const } : {}),
  });
  child.stdin.on('error', () => {});
  if (options.stream) options.stream.pipe(child.stdin);
  else child.stdin.end(options.input ?? '');
  return child;
}

/** Runs git and returns its trimmed standard output. */
export async function gitOut(args: readonly string[], options: GitOptions): Promise<string> {
  return (await git(args, options)).stdout.trim();
}

/** The all-zero object id `update-ref` takes as "must not exist yet" (SHA-1 or SHA-256 length). */
export function zeroOid(likeOid = ''): string {
  return '0'.repeat(likeOid.length === 64 ? 64 : 40);
}

let versionPromise: Promise<readonly [number, number, number]> | undefined;

/** The installed git's version, asked once per process. */
export function gitVersion(): Promise<readonly [number, number, number]> {
  versionPromise ??= gitOut(['--version'], { cwd: process.cwd() }).then((text) => {
    const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
    return [Number(match?.[1] ?? 0), Number(match?.[2] ?? 0), Number(match?.[3] ?? 0)] as const;
  });
  return versionPromise;
}

/** Whether `git merge-tree --merge-base=<commit>` exists (git 2.40+); `GITSWARM_GIT_LEGACY=1` forces the fallback. */
export async function hasMergeTreeBase(): Promise<boolean> {
  if (commandEnv().GITSWARM_GIT_LEGACY === '1') return false;
  const [major, minor] = await gitVersion();
  return major > 2 || (major === 2 && minor >= 40);
}
