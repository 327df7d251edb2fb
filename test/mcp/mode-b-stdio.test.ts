/**
 * `gitswarm mcp` in clones connected to a server (Mode B): each agent's MCP server goes through
 * the server exactly as the CLI does (governance there, git in the clone, branches through the
 * shared remote). Two clones, two agents, the SDK's client over stdio.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from '../remote/helpers.js';
import { type AgentClient, connectStdio } from './helpers.js';

describe('gitswarm mcp on connected clones (Mode B)', () => {
  let server: TestServer;
  let world: ModeBWorld;
  let a: TestClone;
  let b: TestClone;
  let alice: AgentClient;
  let bob: AgentClient;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    world = new ModeBWorld({ bin: true });
    a = world.clone('laptop');
    b = world.clone('ci');
    expect((await a.run(['init', '--server', server.url, '--mode', 'review'])).code).toBe(0);
    const registered = await a.run(['agent', 'register', 'alice', '--json']);
    expect(registered.code, registered.stderr).toBe(0);
    const { api_key: key, server: where } = registered.json<{
      api_key: string;
      server: { repo_id: string };
    }>();
    expect((await b.run(['init', '--server', server.url, '--repo', where.repo_id])).code).toBe(0);
    expect((await b.run(['agent', 'register', 'bob'])).code).toBe(0);
    const added = await fetch(`${server.url}/api/v1/repos/${where.repo_id}/maintainers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ agent_id: 'bob' }),
    });
    expect(added.status).toBe(201);
    [alice, bob] = await Promise.all([
      connectStdio(a.dir, a.env, 'alice'),
      connectStdio(b.dir, b.env, 'bob'),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([alice, bob].map((c) => c?.close()));
    world?.close();
    await server?.close();
  });

  it('workspace, commit, review (self-review refused by the server), merge through the remote', async () => {
    const created = await alice.ok<{ stream: { id: string; branch: string }; worktree: string }>(
      'workspace_create',
      {
        name: 'feature',
      },
    );
    const id = created.stream.id;
    a.write('feature.txt', 'from clone A\n', created.worktree);
    const commit = await alice.ok<{ commit: string }>('commit', { message: 'Add a feature' });
    expect(a.git(['rev-parse', created.stream.branch], world.bare)).toBe(commit.commit);
    await alice.ok('review_request', { stream: id });
    await alice.refused('review_submit', { stream: id, verdict: 'approve' }, 'self_review');
    // Bob's clone sees the stream through the server and the remote.
    const diff = await bob.ok<{ files: string[] }>('diff', { stream: id });
    expect(diff.files).toEqual(['feature.txt']);
    expect(await bob.ok('review_submit', { stream: id, verdict: 'approve' })).toMatchObject({
      consensus: { reached: true },
    });
    const merged = await alice.ok<{ merge_commit: string }>('merge', { stream: id });
    expect(a.git(['rev-parse', 'buffer'], world.bare)).toBe(merged.merge_commit);
    const status = await bob.ok<{ server: { reachable: boolean } }>('status');
    expect(status.server.reachable).toBe(true);
  }, 120_000);
});
