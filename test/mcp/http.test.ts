/**
 * MCP over Streamable HTTP at /mcp on a listening server, driven by the SDK's own Client: the
 * bearer key names the agent (two agents' sessions each see their own identity; a wrong key is
 * refused; a session cannot be taken over with another key), the governance tools of a Mode B
 * repository (review loop with self_review refused, consensus, tasks, activity, status), resources,
 * DNS-rebinding protection and rate limits.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Notification } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import {
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from '../server/helpers.js';
import { CONTRACT_TOOLS } from './contract.js';
import { type AgentClient, eventually, wrap } from './helpers.js';

async function connectHttp(base: string, key: string, repo?: string): Promise<AgentClient> {
  const url = new URL(`${base}/mcp${repo ? `?repo=${encodeURIComponent(repo)}` : ''}`);
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  const client = new Client({ name: 'test-http', version: '1.0.0' });
  const notifications: Notification[] = [];
  client.fallbackNotificationHandler = async (n) => {
    notifications.push(n);
  };
  await client.connect(transport);
  return wrap(client, [], notifications);
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: MCP over Streamable HTTP at /mcp`, () => {
    let t: TestApp;
    let base: string;
    let owner: TestAgent;
    let coder: TestAgent;
    let reviewer: TestAgent;
    let repo: { id: string; name: string };
    const clients: AgentClient[] = [];

    beforeAll(async () => {
      t = await startTestApp(dialect, { mcp: { pollMs: 100 } });
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const address = t.app.server.address();
      base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      owner = await registerTestAgent(t.app);
      coder = await registerTestAgent(t.app);
      reviewer = await registerTestAgent(t.app);
      repo = await createTestRepo(t.app, owner, { merge_mode: 'review', ownership_model: 'guild' });
      const added = await t.app.inject({
        method: 'POST',
        url: `/api/v1/repos/${repo.id}/maintainers`,
        headers: owner.headers,
        payload: { agent_id: reviewer.id },
      });
      expect(added.statusCode).toBe(201);
    });

    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await t?.close();
    });

    const connect = async (agent: TestAgent, ref: string | undefined = repo.id) => {
      const client = await connectHttp(base, agent.key, ref);
      clients.push(client);
      return client;
    };

    it('two agents: each session acts as its own key’s agent', async () => {
      const [a, b] = await Promise.all([connect(coder), connect(reviewer, repo.name)]);
      expect(await a.ok('whoami')).toEqual({ agent: { id: coder.id, name: coder.name } });
      expect(await b.ok('whoami')).toEqual({ agent: { id: reviewer.id, name: reviewer.name } });
      const status = await a.ok<{ repo: { id: string; merge_mode: string } }>('status');
      expect(status.repo).toMatchObject({ id: repo.id, merge_mode: 'review' });
    });

    it('offers the governance tools of the contract (Mode B: git stays in the clones)', async () => {
      const client = await connect(coder);
      const { tools } = await client.client.listTools();
      const names = tools.map((tool) => tool.name).sort();
      expect(names).toEqual(
        [
          'activity',
          'agent_list',
          'consensus',
          'review_list',
          'review_request',
          'review_submit',
          'status',
          'task_claim',
          'task_create',
          'task_list',
          'task_show',
          'task_submit',
          'whoami',
        ].sort(),
      );
      for (const tool of tools) {
        const contract = CONTRACT_TOOLS.find((c) => c.name === tool.name);
        if (!contract) continue;
        expect([...(tool.inputSchema.required ?? [])].sort()).toEqual([...contract.required].sort());
        expect(tool.annotations).toMatchObject({
          readOnlyHint: contract.readOnly,
          idempotentHint: contract.idempotent,
        });
      }
    });

    it('review loop on a stream recorded by a clone: self-review refused, consensus, resources notified', async () => {
      const a = await connect(coder);
      const b = await connect(reviewer);
      // The coder's clone records its stream and a commit (as `gitswarm workspace create` and `commit` do).
      const streamId = randomBytes(6).toString('hex');
      const recorded = await t.app.inject({
        method: 'POST',
        url: `/api/v1/repos/${repo.id}/streams`,
        headers: coder.headers,
        payload: { id: streamId, name: 'feature', base_branch: 'buffer' },
      });
      expect(recorded.statusCode).toBe(201);
      const commit = await t.app.inject({
        method: 'POST',
        url: `/api/v1/streams/${streamId}/commits`,
        headers: coder.headers,
        payload: {
          commit: randomBytes(20).toString('hex'),
          change_id: `I${randomBytes(20).toString('hex')}`,
          message: 'feature',
        },
      });
      expect(commit.statusCode).toBe(201);

      const listed = await b.client.listResources();
      expect(listed.resources.map((r) => r.uri)).toContain(`gitswarm://streams/${streamId}`);
      await b.client.subscribeResource({ uri: `gitswarm://streams/${streamId}` });

      expect(await a.ok('review_request', { stream: 'feature' })).toMatchObject({
        stream: { id: streamId, status: 'in_review' },
      });
      await a.refused('review_submit', { stream: streamId, verdict: 'approve' }, 'self_review');
      const mark = b.notifications.length;
      const review = await b.ok<{ consensus: { reached: boolean } }>('review_submit', {
        stream: streamId,
        verdict: 'approve',
        feedback: 'ok',
      });
      expect(review.consensus.reached).toBe(true);
      await eventually(() =>
        b.notifications
          .slice(mark)
          .some(
            (n) =>
              n.method === 'notifications/resources/updated' &&
              (n.params as { uri?: string }).uri === `gitswarm://streams/${streamId}`,
          ),
      );
      expect(await a.ok('consensus', { stream: streamId })).toMatchObject({ reached: true, approvals: 1 });
      const reviews = await a.ok<{ reviews: { reviewer_id: string }[] }>('review_list', { stream: streamId });
      expect(reviews.reviews.map((r) => r.reviewer_id)).toEqual([reviewer.id]);
      const status = await a.ok<{ queue: { stream_id: string; ready: boolean }[] }>('status');
      expect(status.queue).toEqual([expect.objectContaining({ stream_id: streamId, ready: true })]);
      const read = await a.client.readResource({ uri: `gitswarm://streams/${streamId}` });
      const content = read.contents[0];
      expect(JSON.parse(content && 'text' in content ? String(content.text) : '{}')).toMatchObject({
        stream_id: streamId,
        consensus: { reached: true },
        reviews: [{ reviewer_id: reviewer.id, verdict: 'approve' }],
      });
      const activity = await a.ok<{ activity: { event_type: string }[] }>('activity', { limit: 10 });
      expect(activity.activity.map((e) => e.event_type)).toContain('stream.reviewed');
    });

    it('tasks and agents through /mcp', async () => {
      const o = await connect(owner);
      const c = await connect(coder);
      const created = await o.ok<{ task: { id: string; number: number } }>('task_create', {
        title: 'Ship MCP',
      });
      expect((await c.ok<{ tasks: { id: string }[] }>('task_list')).tasks.map((x) => x.id)).toContain(
        created.task.id,
      );
      expect(await c.ok('task_show', { task: created.task.id })).toMatchObject({
        task: { title: 'Ship MCP' },
      });
      expect(await c.ok('task_claim', { task: String(created.task.number) })).toMatchObject({
        claim: { agent_id: coder.id, status: 'active' },
      });
      expect(await c.ok('task_submit', { task: created.task.id })).toMatchObject({
        claim: { status: 'submitted' },
      });
      const agents = await c.ok<{ agents: { id: string }[] }>('agent_list');
      expect(agents.agents.map((a) => a.id)).toEqual(
        expect.arrayContaining([owner.id, coder.id, reviewer.id]),
      );
    });

    it('refuses a wrong key, a session taken with another key, and a rebinding Host', async () => {
      const wrong = await fetch(`${base}/mcp?repo=${repo.id}`, {
        method: 'POST',
        headers: { ...MCP_HEADERS, authorization: `Bearer gs_${'x'.repeat(43)}` },
        body: JSON.stringify(INITIALIZE),
      });
      expect(wrong.status).toBe(401);
      expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
      const none = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: MCP_HEADERS,
        body: JSON.stringify(INITIALIZE),
      });
      expect(none.status).toBe(401);
      await expect(connectHttp(base, 'gs_nope')).rejects.toThrow();

      const opened = await fetch(`${base}/mcp?repo=${repo.id}`, {
        method: 'POST',
        headers: { ...MCP_HEADERS, authorization: `Bearer ${coder.key}` },
        body: JSON.stringify(INITIALIZE),
      });
      expect(opened.status).toBe(200);
      const sessionId = opened.headers.get('mcp-session-id');
      expect(sessionId).toBeTruthy();
      await opened.text();
      const hijack = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: {
          ...MCP_HEADERS,
          authorization: `Bearer ${reviewer.key}`,
          'mcp-session-id': String(sessionId),
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 2,
          method: 'tools/call',
          params: { name: 'whoami', arguments: {} },
        }),
      });
      expect(hijack.status).toBe(403);
      const unknown = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: {
          ...MCP_HEADERS,
          authorization: `Bearer ${coder.key}`,
          'mcp-session-id': 'no-such-session',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }),
      });
      expect(unknown.status).toBe(404);

      // DNS rebinding: a page whose name resolves to this server sends its own Host and Origin.
      const port = new URL(base).port;
      const rebound = await t.app.inject({
        method: 'POST',
        url: `/mcp?repo=${repo.id}`,
        headers: { ...MCP_HEADERS, authorization: `Bearer ${coder.key}`, host: `evil.example:${port}` },
        payload: INITIALIZE,
      });
      expect(rebound.statusCode).toBe(403);
      expect(rebound.body).toContain('Invalid Host header');
      const foreignOrigin = await t.app.inject({
        method: 'POST',
        url: `/mcp?repo=${repo.id}`,
        headers: {
          ...MCP_HEADERS,
          authorization: `Bearer ${coder.key}`,
          host: `localhost:${port}`,
          origin: 'http://evil.example',
        },
        payload: INITIALIZE,
      });
      expect(foreignOrigin.statusCode).toBe(403);
      expect(foreignOrigin.body).toContain('Invalid Origin header');
    });

    it('refuses a repository the agent may not read, and names one when several exist', async () => {
      const privateRepo = await createTestRepo(t.app, owner, { is_private: true });
      await expect(connectHttp(base, coder.key, privateRepo.id)).rejects.toThrow(/403|forbidden/i);
      await expect(connectHttp(base, coder.key)).rejects.toThrow(/repo=/);
    });
  });
}

describe('MCP at /mcp: rate limits as the rest of the API', () => {
  it('counts MCP requests against the key: over the limit is 429', async () => {
    const t = await startTestApp('sqlite', { rateLimit: { max: 4, perAddressMax: 100 } });
    try {
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const agent = await registerTestAgent(t.app);
      const repo = await createTestRepo(t.app, agent);
      const statuses: number[] = [];
      for (let i = 0; i < 6; i += 1) {
        const response = await t.app.inject({
          method: 'POST',
          url: `/mcp?repo=${repo.id}`,
          headers: { ...MCP_HEADERS, authorization: `Bearer ${agent.key}`, host: 'localhost' },
          payload: INITIALIZE,
        });
        statuses.push(response.statusCode);
      }
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
      expect(statuses[0]).toBe(200);
    } finally {
      await t.close();
    }
  });
});
