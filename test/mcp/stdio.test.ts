/**
 * `gitswarm mcp` over stdio, driven by the SDK's own Client: three agents, each with its own MCP
 * server process (the built binary), run a complete review-mode loop in a temporary repository;
 * refusals come back as tool errors with their codes (self_review, conflict with its paths); the
 * tool list matches the contract table; every tool is called; resources notify their readers.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRepo, type TestRepo } from '../cli/helpers.js';
import { CONTRACT_TOOLS } from './contract.js';
import { type AgentClient, connectStdio, eventually } from './helpers.js';

interface StreamDoc {
  stream: { id: string; name: string; branch: string };
  worktree: string;
}

describe('gitswarm mcp on stdio: three agents, review mode', () => {
  let repo: TestRepo;
  let coder: AgentClient;
  let reviewer: AgentClient;
  let owner: AgentClient;

  beforeAll(async () => {
    repo = createTestRepo();
    const setup = async (args: string[]) => {
      const run = await repo.run(args);
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
    };
    await setup(['init', '--mode', 'review', '--model', 'guild', '--stabilize-cmd', 'test -f README.md']);
    for (const name of ['owner', 'coder', 'reviewer']) await setup(['agent', 'register', name]);
    await setup(['maintainer', 'add', 'reviewer', '--as', 'owner']);
    const clients = await Promise.all(
      ['coder', 'reviewer', 'owner'].map((name) => connectStdio(repo.dir, repo.env, name)),
    );
    [coder, reviewer, owner] = clients as [AgentClient, AgentClient, AgentClient];
  }, 60_000);

  afterAll(async () => {
    await Promise.all([coder, reviewer, owner].map((c) => c?.close()));
    repo?.close();
  });

  it('lists the tools of the contract table with their required arguments and annotations', async () => {
    const { tools } = await coder.client.listTools();
    const byName = new Map<string, Tool>(tools.map((t) => [t.name, t]));
    for (const expected of CONTRACT_TOOLS) {
      const tool = byName.get(expected.name);
      expect(tool, expected.name).toBeDefined();
      const properties = Object.keys(tool?.inputSchema.properties ?? {}).sort();
      expect({ name: expected.name, properties }).toEqual({
        name: expected.name,
        properties: [...expected.required, ...expected.optional].sort(),
      });
      expect({ name: expected.name, required: [...(tool?.inputSchema.required ?? [])].sort() }).toEqual({
        name: expected.name,
        required: [...expected.required].sort(),
      });
      expect({ name: expected.name, annotations: tool?.annotations }).toMatchObject({
        name: expected.name,
        annotations: {
          readOnlyHint: expected.readOnly,
          destructiveHint: expected.destructive,
          idempotentHint: expected.idempotent,
          openWorldHint: false,
        },
      });
      expect(tool?.description?.length).toBeGreaterThan(40);
      expect(tool?.outputSchema?.type).toBe('object');
      for (const [arg, schema] of Object.entries(tool?.inputSchema.properties ?? {})) {
        expect({
          tool: expected.name,
          arg,
          described: Boolean((schema as { description?: string }).description),
        }).toEqual({
          tool: expected.name,
          arg,
          described: true,
        });
      }
    }
    // The contract's tools, plus whoami; nothing else.
    expect(tools.map((t) => t.name).sort()).toEqual([...CONTRACT_TOOLS.map((t) => t.name), 'whoami'].sort());
  });

  it('binds each server to its agent', async () => {
    expect(await coder.ok('whoami')).toMatchObject({ agent: { name: 'coder' } });
    expect(await reviewer.ok('whoami')).toMatchObject({ agent: { name: 'reviewer' } });
    const agents = await owner.ok<{ agents: { name: string }[] }>('agent_list');
    expect(agents.agents.map((a) => a.name).sort()).toEqual(['coder', 'owner', 'reviewer']);
  });

  it('runs the loop: workspace, commit, review (self-review refused), consensus, merge, stabilize, promote', async () => {
    const created = await coder.ok<StreamDoc>('workspace_create', { name: 'feature' });
    expect(created.worktree).toBe(join(repo.dir, '.worktrees', 'coder'));
    const id = created.stream.id;
    repo.write('feature.txt', 'a feature\n', created.worktree);
    const commit = await coder.ok<{ commit: string; merged: boolean; stream_id: string }>('commit', {
      message: 'Add a feature',
    });
    expect(commit).toMatchObject({ merged: false, stream_id: id });
    expect(repo.git(['rev-parse', created.stream.branch])).toBe(commit.commit);

    await coder.refused('merge', { stream: id }, 'no_consensus');
    const requested = await coder.ok<{ stream: { status: string } }>('review_request', { stream: id });
    expect(requested.stream.status).toBe('in_review');

    const diff = await reviewer.ok<{ files: string[]; diff: string }>('diff', { stream: 'feature' });
    expect(diff.files).toEqual(['feature.txt']);
    expect(diff.diff).toContain('+a feature');
    const stat = await reviewer.ok<{ diff: string }>('diff', { stream: id, stat: true });
    expect(stat.diff).toContain('feature.txt | 1 +');

    const self = await coder.refused('review_submit', { stream: id, verdict: 'approve' }, 'self_review');
    expect(self.hint).toBeTruthy();

    const review = await reviewer.ok<{ review: { verdict: string }; consensus: { reached: boolean } }>(
      'review_submit',
      { stream: id, verdict: 'approve', feedback: 'LGTM', tested: true },
    );
    expect(review).toMatchObject({ review: { verdict: 'approve' }, consensus: { reached: true } });
    const reviews = await coder.ok<{ reviews: { reviewer_name: string; feedback: string }[] }>(
      'review_list',
      {
        stream: id,
      },
    );
    expect(reviews.reviews).toMatchObject([{ reviewer_name: 'reviewer', feedback: 'LGTM', tested: true }]);
    expect(await coder.ok('consensus', { stream: id })).toMatchObject({ stream_id: id, reached: true });

    const merged = await coder.ok<{ merged: boolean; buffer_head: string }>('merge', { stream: id });
    expect(merged.merged).toBe(true);
    expect(repo.git(['rev-parse', 'buffer'])).toBe(merged.buffer_head);

    // stabilize reports its steps as progress when the client sends a progress token.
    const steps: string[] = [];
    const green = await owner.client.callTool({ name: 'stabilize', arguments: {} }, undefined, {
      onprogress: (p) => steps.push(p.message ?? ''),
      timeout: 120_000,
    });
    expect(green.isError ?? false).toBe(false);
    expect(green.structuredContent).toMatchObject({ result: 'green', buffer_commit: merged.buffer_head });
    expect(steps.length).toBeGreaterThan(0);
    expect(steps.join('\n')).toContain('green');

    const promoted = await owner.ok<{ promoted: boolean; to_commit: string }>('promote');
    expect(promoted).toMatchObject({ promoted: true, to_commit: merged.buffer_head });
    expect(repo.git(['rev-parse', 'main'])).toBe(merged.buffer_head);
    expect(await owner.ok('promote')).toMatchObject({ promoted: false });

    const status = await owner.ok<{ main_head: string; last_stabilization: { result: string } }>('status');
    expect(status).toMatchObject({ main_head: merged.buffer_head, last_stabilization: { result: 'green' } });
    const activity = await owner.ok<{ activity: { event_type: string }[] }>('activity', { limit: 50 });
    const events = activity.activity.map((e) => e.event_type);
    for (const event of [
      'stream.created',
      'stream.submitted',
      'stream.reviewed',
      'stream.merged',
      'buffer.promoted',
    ])
      expect(events).toContain(event);

    const destroyed = await coder.ok<{ abandoned: boolean; worktree: string }>('workspace_destroy');
    expect(destroyed.abandoned).toBe(false);
    expect(existsSync(created.worktree)).toBe(false);
  }, 120_000);

  it('returns a conflict as a tool error with the paths', async () => {
    const a = await coder.ok<StreamDoc>('workspace_create', { name: 'left' });
    const b = await owner.ok<StreamDoc>('workspace_create', { name: 'right' });
    const listed = await reviewer.ok<{ workspaces: { agent_name: string }[] }>('workspace_list');
    expect(listed.workspaces.map((w) => w.agent_name).sort()).toEqual(['coder', 'owner']);
    repo.write('shared.txt', 'left\n', a.worktree);
    repo.write('shared.txt', 'right\n', b.worktree);
    await coder.ok('commit', { message: 'left' });
    await owner.ok('commit', { message: 'right' });
    await coder.ok('review_request', { stream: a.stream.id });
    await owner.ok('review_request', { stream: b.stream.id });
    await reviewer.ok('review_submit', { stream: a.stream.id, verdict: 'approve' });
    await reviewer.ok('review_submit', { stream: b.stream.id, verdict: 'approve' });
    await coder.ok('merge', { stream: a.stream.id });
    const buffer = repo.git(['rev-parse', 'buffer']);
    const conflict = await owner.refused('merge', { stream: b.stream.id }, 'conflict');
    expect(conflict.paths).toEqual(['shared.txt']);
    expect(repo.git(['rev-parse', 'buffer'])).toBe(buffer);
    const result = await owner.call('merge', { stream: b.stream.id });
    const text = result.content[0]?.type === 'text' ? result.content[0].text : '';
    expect(text).toContain('paths: shared.txt');
    // Give up on it: abandoning removes the worktree and the stream.
    expect(await owner.ok('workspace_destroy', { abandon: true })).toMatchObject({ abandoned: true });
    await coder.ok('workspace_destroy');
  }, 60_000);

  it('tasks: create, list, show, claim, submit', async () => {
    const created = await owner.ok<{ task: { id: string; number: number; priority: string } }>(
      'task_create',
      {
        title: 'Write docs',
        description: 'The agents section',
        priority: 'high',
        labels: ['docs', 'mcp'],
      },
    );
    expect(created.task).toMatchObject({ priority: 'high', amount: 0 });
    const number = String(created.task.number);
    const list = await coder.ok<{ tasks: { id: string }[] }>('task_list', { status: 'open' });
    expect(list.tasks.map((t) => t.id)).toContain(created.task.id);
    expect(await coder.ok('task_show', { task: number })).toMatchObject({
      task: { id: created.task.id, labels: ['docs', 'mcp'], claims: [] },
    });
    const claim = await coder.ok<{ claim: { status: string } }>('task_claim', { task: number });
    expect(claim.claim.status).toBe('active');
    // A non-claimant cannot hand the task in.
    await reviewer.refused('task_submit', { task: number }, 'claim_not_found');
    const submitted = await coder.ok<{ claim: { status: string } }>('task_submit', {
      task: number,
      notes: 'done',
    });
    expect(submitted.claim.status).toBe('submitted');
    await coder.refused('task_show', { task: '999' }, 'task_not_found');
  });

  it('refuses bad arguments before running anything, and an empty commit with its code', async () => {
    const result = await coder.call('review_submit', { stream: 'x', verdict: 'maybe' });
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toContain('verdict');
    await coder.ok('workspace_create', { name: 'empty' });
    await coder.refused('commit', { message: 'nothing changed' }, 'nothing_to_commit');
    await coder.ok('workspace_destroy', { abandon: true });
  });

  it('resources: status, activity, a stream with its reviews, its diff; list_changed and updated', async () => {
    const created = await coder.ok<StreamDoc>('workspace_create', { name: 'watched' });
    const id = created.stream.id;
    repo.write('watched.txt', 'watch me\n', created.worktree);
    await coder.ok('commit', { message: 'watched' });

    const { resources } = await reviewer.client.listResources();
    const uris = resources.map((r) => r.uri);
    expect(uris).toContain('gitswarm://status');
    expect(uris).toContain('gitswarm://activity');
    expect(uris).toContain(`gitswarm://streams/${id}`);
    expect(uris).toContain(`gitswarm://streams/${id}/diff`);

    const status = await reviewer.client.readResource({ uri: 'gitswarm://status' });
    const statusText = status.contents[0] && 'text' in status.contents[0] ? status.contents[0].text : '';
    expect(JSON.parse(String(statusText)).streams.map((s: { id: string }) => s.id)).toContain(id);
    const diff = await reviewer.client.readResource({ uri: `gitswarm://streams/${id}/diff` });
    expect(diff.contents[0]).toMatchObject({ mimeType: 'text/x-diff' });
    expect(JSON.stringify(diff.contents[0])).toContain('+watch me');

    await reviewer.client.subscribeResource({ uri: `gitswarm://streams/${id}` });
    const before = reviewer.notifications.length;
    // Another agent's process changes the stream: the subscriber hears of it.
    await coder.ok('review_request', { stream: id });
    await eventually(() =>
      reviewer.notifications
        .slice(before)
        .some(
          (n) =>
            n.method === 'notifications/resources/updated' &&
            (n.params as { uri?: string })?.uri === `gitswarm://streams/${id}`,
        ),
    );
    await reviewer.ok('review_submit', { stream: id, verdict: 'comment', feedback: 'looking' });
    const stream = await reviewer.client.readResource({ uri: `gitswarm://streams/${id}` });
    const doc = JSON.parse(
      String(stream.contents[0] && 'text' in stream.contents[0] ? stream.contents[0].text : ''),
    );
    expect(doc).toMatchObject({
      stream_id: id,
      consensus: { reached: false },
      reviews: [{ verdict: 'comment' }],
    });

    // The stream leaves the live list (abandoned): list_changed.
    const mark = reviewer.notifications.length;
    await coder.ok('workspace_destroy', { abandon: true });
    await eventually(() =>
      reviewer.notifications.slice(mark).some((n) => n.method === 'notifications/resources/list_changed'),
    );
    const after = await reviewer.client.listResources();
    expect(after.resources.map((r) => r.uri)).not.toContain(`gitswarm://streams/${id}`);
  }, 60_000);
});

describe('gitswarm mcp: start-up refusals', () => {
  it('needs an agent, and an initialized repository', async () => {
    const repo = createTestRepo();
    try {
      const bare = await repo.run(['mcp']);
      expect(bare.code).toBe(3);
      expect(bare.stderr).toContain('not set up');
      await repo.run(['init']);
      const noAgent = await repo.run(['mcp']);
      expect(noAgent.code).toBe(2);
      expect(noAgent.stderr).toContain('hint: Run: gitswarm mcp --as AGENT');
      const unknown = await repo.run(['mcp', '--as', 'nobody']);
      expect(unknown.code).toBe(3);
    } finally {
      repo.close();
    }
  });
});
