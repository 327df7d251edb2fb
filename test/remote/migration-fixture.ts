/**
 * Set-up for the migration tests: a Mode A repository with history, made with the real CLI
 * (in-process) in a clone of a shared bare remote, and its store opened as the CLI opens it.
 */
import { readConfigFile, resolveStoreLocation } from '../../src/cli/config-file.js';
import { openCliStore } from '../../src/cli/context.js';
import type { Repo, Store } from '../../src/store/index.js';
import type { ModeBWorld, TestClone } from './helpers.js';

export interface ModeAHistory {
  clone: TestClone;
  store: Store;
  repo: Repo;
  /** The stream ids by name. */
  streams: Record<string, string>;
  close(): Promise<void>;
}

async function ok(clone: TestClone, args: string[], cwd?: string) {
  const run = await clone.run([...args, '--json'], { cwd });
  if (run.code !== 0)
    throw new Error(`gitswarm ${args.join(' ')} failed (${run.code}): ${run.stdout}${run.stderr}`);
  return run.json<Record<string, unknown>>();
}

/**
 * A review-mode repository where: alice owns, carol maintains; a 100-credit bounty was paid to bob
 * for the merged stream `cache` (approved by carol); carol's `docs` merged (approved by alice);
 * bob's `wip` waits in review; a second task is open; bob sits on the council, which passed a
 * proposal, and carol is nominated in an election.
 */
export async function buildModeAHistory(world: ModeBWorld): Promise<ModeAHistory> {
  const clone = world.clone();
  await ok(clone, ['init', '--mode', 'review', '--model', 'guild', '--name', 'history']);
  for (const name of ['alice', 'bob', 'carol']) await ok(clone, ['agent', 'register', name]);
  await ok(clone, ['maintainer', 'add', 'carol', '--as', 'alice']);
  await ok(clone, ['budget', 'deposit', '500', '--as', 'alice']);
  await ok(clone, ['task', 'create', 'Add a cache', '--amount', '100', '--labels', 'perf', '--as', 'alice']);
  await ok(clone, ['task', 'create', 'Write the docs', '--as', 'alice']);
  await ok(clone, ['task', 'claim', '1', '--as', 'bob']);

  const streams: Record<string, string> = {};
  const work = async (agent: string, name: string, file: string, reviewer: string, merge: boolean) => {
    const created = await ok(clone, [
      'workspace',
      'create',
      '--as',
      agent,
      '--name',
      name,
      ...(name === 'cache' ? ['--task', '1'] : []),
    ]);
    streams[name] = (created.stream as { id: string }).id;
    clone.write(file, `${name}\n`, created.worktree as string);
    await ok(clone, ['commit', '-m', `Add ${name}`, '--as', agent]);
    await ok(clone, ['review', 'submit', name, '--as', agent]);
    if (!merge) return;
    await ok(clone, ['review', 'submit', name, 'approve', '--as', reviewer, '-m', 'Looks right']);
    await ok(clone, ['merge', name, '--as', agent]);
    await ok(clone, ['workspace', 'destroy', '--as', agent]);
  };
  await work('bob', 'cache', 'cache.txt', 'carol', true);
  const shown = await clone.run(['task', 'show', '1', '--json']);
  if (shown.json<{ task: { status: string } }>().task.status !== 'submitted') {
    await ok(clone, ['task', 'submit', '1', '--as', 'bob']);
  }
  await ok(clone, ['task', 'review', '1', 'approve', '--as', 'alice']);
  await work('carol', 'docs', 'docs.txt', 'alice', true);
  await work('bob', 'wip', 'wip.txt', 'carol', false);

  // The council: bob joins (he merged a stream) and passes a proposal; carol is nominated.
  await ok(clone, [
    'council',
    'create',
    '--min-karma',
    '0',
    '--min-contributions',
    '1',
    '--min-members',
    '1',
    '--standard-quorum',
    '1',
    '--as',
    'alice',
  ]);
  await ok(clone, ['council', 'join', '--as', 'bob']);
  const proposed = await ok(clone, [
    'council',
    'propose',
    'change_settings',
    '--title',
    'Keep verdicts on changed code',
    '--data',
    '{"settings":{"stale_reviews":"keep"}}',
    '--as',
    'bob',
  ]);
  const proposal = (proposed.proposal as { id: string }).id;
  await ok(clone, ['council', 'vote', proposal, 'for', '--as', 'bob']);
  await ok(clone, ['election', 'start', '--as', 'bob']);
  await ok(clone, ['election', 'nominate', 'carol', '--statement', 'She reviews a lot', '--as', 'bob']);

  const config = readConfigFile(clone.dir);
  if (!config) throw new Error('no config after init');
  const store = await openCliStore(resolveStoreLocation(clone.dir, config, clone.env));
  const repo = await store.db
    .selectFrom('gitswarm_repos')
    .selectAll()
    .where('id', '=', config.repo_id)
    .executeTakeFirstOrThrow();
  return { clone, store, repo, streams, close: () => store.close() };
}
