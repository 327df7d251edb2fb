/**
 * Set-up for the migration tests: a Mode A repository with history made with the real CLI
 * (in-process), its store opened as the CLI opens it, a listening server on a free port, and the
 * small HTTP client and key store a migration is given.
 */
import type { AddressInfo } from 'node:net';
import { readConfigFile, resolveStoreLocation } from '../../src/cli/config-file.js';
import { openCliStore } from '../../src/cli/context.js';
import { ERROR_CATALOGUE, type ErrorCode, GitSwarmError } from '../../src/errors.js';
import type { KeyStore, MigrationClient } from '../../src/remote/migrate.js';
import type { Repo, Store } from '../../src/store/index.js';
import { createTestRepo, type TestRepo } from '../cli/helpers.js';
import type { TestDialect } from '../helpers/store.js';
import { startTestApp, type TestApp } from '../server/helpers.js';

export interface ModeAHistory {
  git: TestRepo;
  store: Store;
  repo: Repo;
  /** The stream ids by name. */
  streams: Record<string, string>;
  close(): Promise<void>;
}

async function ok(git: TestRepo, args: string[], cwd?: string) {
  const run = await git.run([...args, '--json'], { cwd });
  if (run.code !== 0)
    throw new Error(`gitswarm ${args.join(' ')} failed (${run.code}): ${run.stdout}${run.stderr}`);
  return run.json<Record<string, unknown>>();
}

/**
 * A review-mode repository where: alice owns, carol maintains; a 100-credit bounty was paid to bob
 * for the merged stream `cache` (approved by carol); carol's `docs` merged (approved by alice);
 * bob's `wip` waits in review; a second task is open.
 */
export async function buildModeAHistory(): Promise<ModeAHistory> {
  const git = createTestRepo({ inProcess: true });
  await ok(git, ['init', '--mode', 'review', '--model', 'guild', '--name', 'history']);
  for (const name of ['alice', 'bob', 'carol']) await ok(git, ['agent', 'register', name]);
  await ok(git, ['maintainer', 'add', 'carol', '--as', 'alice']);
  await ok(git, ['budget', 'deposit', '500', '--as', 'alice']);
  await ok(git, ['task', 'create', 'Add a cache', '--amount', '100', '--labels', 'perf', '--as', 'alice']);
  await ok(git, ['task', 'create', 'Write the docs', '--as', 'alice']);
  await ok(git, ['task', 'claim', '1', '--as', 'bob']);

  const streams: Record<string, string> = {};
  const work = async (agent: string, name: string, file: string, reviewer: string, merge: boolean) => {
    const created = await ok(git, [
      'workspace',
      'create',
      '--as',
      agent,
      '--name',
      name,
      ...(name === 'cache' ? ['--task', '1'] : []),
    ]);
    const stream = created.stream as { id: string };
    streams[name] = stream.id;
    git.write(file, `${name}\n`, created.worktree as string);
    await ok(git, ['commit', '-m', `Add ${name}`, '--as', agent]);
    await ok(git, ['review', 'submit', name, '--as', agent]);
    if (!merge) return;
    await ok(git, ['review', 'submit', name, 'approve', '--as', reviewer, '-m', 'Looks right']);
    await ok(git, ['merge', name, '--as', agent]);
    await ok(git, ['workspace', 'destroy', '--as', agent]);
  };
  await work('bob', 'cache', 'cache.txt', 'carol', true);
  const claim = await git.run(['task', 'show', '1', '--json']);
  const task = claim.json<{ task: { status: string } }>().task;
  if (task.status !== 'submitted') await ok(git, ['task', 'submit', '1', '--as', 'bob']);
  await ok(git, ['task', 'review', '1', 'approve', '--as', 'alice']);
  await work('carol', 'docs', 'docs.txt', 'alice', true);
  await work('bob', 'wip', 'wip.txt', 'carol', false);

  const config = readConfigFile(git.dir);
  if (!config) throw new Error('no config after init');
  const store = await openCliStore(resolveStoreLocation(git.dir, config, git.env));
  const repo = await store.db
    .selectFrom('gitswarm_repos')
    .selectAll()
    .where('id', '=', config.repo_id)
    .executeTakeFirstOrThrow();
  return {
    git,
    store,
    repo,
    streams,
    async close() {
      await store.close();
      git.close();
    },
  };
}

/** A listening server on a fresh store of the dialect; `restart` listens again on the same port. */
export interface ListeningServer {
  t: TestApp;
  url: string;
  close(): Promise<void>;
}

export async function listen(dialect: TestDialect, options: Parameters<typeof startTestApp>[1] = {}) {
  const t = await startTestApp(dialect, options);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = t.app.server.address() as AddressInfo;
  return { t, url: `http://127.0.0.1:${port}`, close: () => t.close() } satisfies ListeningServer;
}

/** The migration's HTTP calls over fetch (an unreachable server is `server_unreachable`). */
export function fetchClient(url: string): MigrationClient {
  return {
    async call<T>(
      method: 'GET' | 'POST',
      path: string,
      options: { key?: string; body?: unknown; idempotencyKey?: string },
    ) {
      let response: Response;
      try {
        response = await fetch(`${url}/api/v1${path}`, {
          method,
          headers: {
            ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
            ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
            ...(options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {}),
          },
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
        });
      } catch (error) {
        throw new GitSwarmError('server_unreachable', `${url} does not answer.`, { cause: error });
      }
      const body = (await response.json()) as { error?: { code: string; message: string } };
      if (!response.ok) {
        const code = body.error?.code ?? 'internal_error';
        throw new GitSwarmError(
          Object.hasOwn(ERROR_CATALOGUE, code) ? (code as ErrorCode) : 'internal_error',
          body.error?.message ?? response.statusText,
          {
            details: { status: response.status },
          },
        );
      }
      return body as T;
    },
  };
}

/** Keys in memory, as the credentials file would keep them. */
export function memoryKeys(): KeyStore & { all: Map<string, string> } {
  const all = new Map<string, string>();
  return {
    all,
    get: (server, agent) => all.get(`${server} ${agent}`),
    save: (server, agent, key) => {
      all.set(`${server} ${agent}`, key);
    },
  };
}
