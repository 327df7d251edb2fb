/**
 * MCP at /mcp on a repository the server holds (Mode C), with the SDK's Client over Streamable
 * HTTP against a listening server: a loop through the file tools (file_write, file_read,
 * file_list, file_delete), commit and merge; and a conflict resolved with conflicts,
 * stream_update, file_write and commit.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Notification } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { createHostedRepo, type FilesServer, startFilesServer } from '../server/files-fixture.js';
import { callApi, registerTestAgent, type TestAgent } from '../server/helpers.js';
import { type AgentClient, wrap } from './helpers.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: MCP on a server-held repository (Mode C)`, () => {
    let t: FilesServer;
    let owner: TestAgent;
    let coder: TestAgent;
    let reviewer: TestAgent;
    let repo: { id: string; name: string };
    const clients: AgentClient[] = [];

    const connect = async (agent: TestAgent): Promise<AgentClient> => {
      const transport = new StreamableHTTPClientTransport(
        new URL(`http://127.0.0.1:${t.port}/mcp?repo=${repo.id}`),
        {
          requestInit: { headers: { authorization: `Bearer ${agent.key}` } },
        },
      );
      const client = new Client({ name: 'mode-c', version: '1.0.0' });
      const notifications: Notification[] = [];
      await client.connect(transport);
      const wrapped = wrap(client, [], notifications);
      clients.push(wrapped);
      return wrapped;
    };

    beforeAll(async () => {
      t = await startFilesServer(dialect);
      owner = await registerTestAgent(t.app);
      coder = await registerTestAgent(t.app);
      reviewer = await registerTestAgent(t.app);
      repo = await createHostedRepo(t, owner, { merge_mode: 'review', ownership_model: 'guild' });
      const added = await callApi(t.app, owner, {
        method: 'POST',
        url: `/repos/${repo.id}/maintainers`,
        payload: { agent_id: reviewer.id },
      });
      expect(added.status).toBe(201);
    }, 180_000);

    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await t?.close();
    });

    it('offers the file tools and the git tools', async () => {
      const c = await connect(coder);
      const names = (await c.client.listTools()).tools.map((tool) => tool.name);
      for (const name of [
        'file_read',
        'file_write',
        'file_delete',
        'file_list',
        'conflicts',
        'stream_update',
        'workspace_create',
        'commit',
        'merge',
        'review_request',
        'review_submit',
        'status',
      ])
        expect(names).toContain(name);
      const write = (await c.client.listTools()).tools.find((tool) => tool.name === 'file_write');
      expect([...(write?.inputSchema.required ?? [])].sort()).toEqual(['content', 'path']);
    });

    it('loop: workspace_create, file_write, file_read, file_list, file_delete, commit, review, merge', async () => {
      const c = await connect(coder);
      const r = await connect(reviewer);
      const created = await c.ok<{ stream: { id: string; name: string } }>('workspace_create', {
        name: 'feature',
      });
      const id = created.stream.id;
      expect(await c.ok('file_write', { path: 'src/feature.txt', content: 'a feature\n' })).toMatchObject({
        path: 'src/feature.txt',
        created: true,
      });
      expect(await c.ok('file_read', { path: 'src/feature.txt' })).toMatchObject({
        content: 'a feature\n',
        encoding: 'utf8',
      });
      const binary = Buffer.from([0, 1, 2, 255]).toString('base64');
      await c.ok('file_write', { path: 'blob.bin', content: binary, encoding: 'base64' });
      expect(await c.ok('file_read', { stream: id, path: 'blob.bin' })).toMatchObject({
        content: binary,
        encoding: 'base64',
      });
      const listed = await c.ok<{ entries: { path: string }[] }>('file_list');
      expect(listed.entries.map((e) => e.path)).toEqual(
        expect.arrayContaining(['README.md', 'src/feature.txt', 'blob.bin']),
      );
      await c.ok('file_delete', { path: 'blob.bin' });
      expect(
        (await c.ok<{ entries: { path: string }[] }>('file_list')).entries.map((e) => e.path),
      ).not.toContain('blob.bin');
      await c.refused('file_read', { path: '../outside/secret' }, 'invalid_path');
      // An agent that is neither its author nor a maintainer may not write in the coder's stream.
      const outsider = await connect(await registerTestAgent(t.app));
      await outsider.refused('file_write', { stream: id, path: 'x.txt', content: 'no' }, 'forbidden');

      const commit = await c.ok<{ stream_id: string; merged: boolean }>('commit', {
        message: 'Add a feature',
      });
      expect(commit).toMatchObject({ stream_id: id, merged: false });
      const noConsensus = await c.refused('merge', { stream: id }, 'no_consensus');
      // The next step is said in tools, never as a CLI command (there is no CLI on /mcp).
      expect(noConsensus.hint).toMatch(/consensus tool/);
      expect(String(noConsensus.hint)).not.toContain('gitswarm ');
      await c.ok('review_request', { stream: id });
      await c.refused('review_submit', { stream: id, verdict: 'approve' }, 'self_review');
      expect(await r.ok('review_submit', { stream: id, verdict: 'approve' })).toMatchObject({
        consensus: { reached: true },
      });
      const merged = await c.ok<{ merged: boolean; buffer_head: string }>('merge', { stream: id });
      expect(merged.merged).toBe(true);
      const status = await c.ok<{ buffer_head: string }>('status');
      expect(status.buffer_head).toBe(merged.buffer_head);
    }, 60_000);

    it('a conflict resolved with conflicts, stream_update, file_write and commit', async () => {
      const c = await connect(coder);
      const o = await connect(owner);
      const r = await connect(reviewer);
      const left = (await c.ok<{ stream: { id: string } }>('workspace_create', { name: 'left' })).stream.id;
      const right = (await o.ok<{ stream: { id: string } }>('workspace_create', { name: 'right' })).stream.id;
      await c.ok('file_write', { path: 'lines.txt', content: 'one\nTWO (left)\nthree\nfour\nfive\n' });
      await o.ok('file_write', { path: 'lines.txt', content: 'one\nTWO (right)\nthree\nfour\nfive\n' });
      await c.ok('commit', { message: 'left' });
      await o.ok('commit', { message: 'right' });
      for (const [client, stream] of [
        [c, left],
        [o, right],
      ] as const) {
        await client.ok('review_request', { stream });
        await r.ok('review_submit', { stream, verdict: 'approve' });
      }
      await c.ok('merge', { stream: left });
      const refused = await o.refused('merge', { stream: right }, 'conflict');
      expect(refused.paths).toEqual(['lines.txt']);

      const conflicts = await o.ok<{ paths: { path: string }[] }>('conflicts', { stream: right });
      expect(conflicts.paths.map((p) => p.path)).toEqual(['lines.txt']);
      const update = await o.ok<{ outcome: string; paths: string[] }>('stream_update', { stream: right });
      expect(update).toMatchObject({ outcome: 'conflicted', paths: ['lines.txt'] });
      const marked = await o.ok<{ content: string }>('file_read', { path: 'lines.txt' });
      expect(marked.content).toContain('<<<<<<<');
      await o.refused('commit', { message: 'markers left' }, 'conflict');
      await o.ok('file_write', {
        path: 'lines.txt',
        content: 'one\nTWO (left and right)\nthree\nfour\nfive\n',
      });
      await o.ok('commit', { message: 'Resolve lines.txt' });
      expect((await o.ok<{ paths: unknown[] }>('conflicts', { stream: right })).paths).toEqual([]);
      // The approval was given on the old head: the reviewer approves the resolution.
      await r.ok('review_submit', { stream: right, verdict: 'approve' });
      expect(await o.ok('merge', { stream: right })).toMatchObject({ merged: true });
      const status = await r.ok<{ buffer_head: string }>('status');
      expect(status.buffer_head).toBeTruthy();
    }, 90_000);

    it('diff, stabilize (queued on the server, progress as it runs) and promote', async () => {
      const c = await connect(coder);
      const o = await connect(owner);
      const created = await c.ok<{ stream: { id: string } }>('workspace_create', { name: 'notes' });
      await c.ok('file_write', { path: 'notes.txt', content: 'a note\n' });
      await c.ok('commit', { message: 'Add notes' });
      const diff = await c.ok<{ files: string[]; diff: string; base: string }>('diff', {
        stream: created.stream.id,
      });
      expect(diff.files).toEqual(['notes.txt']);
      expect(diff.diff).toContain('+a note');
      // The diff resource too: on a server-held repository it reads the server's git.
      const resource = await c.client.readResource({ uri: `gitswarm://streams/${created.stream.id}/diff` });
      expect(resource.contents[0]).toMatchObject({ mimeType: 'text/x-diff' });
      expect(String((resource.contents[0] as { text?: string }).text)).toContain('+a note');
      expect((await c.ok<{ diff: string }>('diff', { stream: created.stream.id, stat: true })).diff).toMatch(
        /notes\.txt \| 1 \+/,
      );

      await o.refused('stabilize', {}, 'invalid_state'); // no stabilize command yet
      const set = await callApi(t.app, owner, {
        method: 'PATCH',
        url: `/repos/${repo.id}`,
        payload: { stabilize_command: 'test -f README.md' },
      });
      expect(set.status).toBe(200);
      const steps: string[] = [];
      const green = await o.client.callTool({ name: 'stabilize', arguments: {} }, undefined, {
        onprogress: (p) => steps.push(p.message ?? ''),
        timeout: 120_000,
      });
      expect(green.isError ?? false).toBe(false);
      const verdict = green.structuredContent as { result: string; buffer_commit: string; tag: string };
      expect(verdict).toMatchObject({ result: 'green', reverted: false });
      expect(verdict.tag).toMatch(/^green\//);
      expect(steps.join('\n')).toContain('green');
      const status = await o.ok<{ buffer_head: string }>('status');
      expect(verdict.buffer_commit).toBe(status.buffer_head);

      await c.refused('promote', {}, 'forbidden'); // maintain+ promotes
      expect(await o.ok('promote')).toMatchObject({ promoted: true, to_commit: verdict.buffer_commit });
      expect(await o.ok('promote')).toMatchObject({ promoted: false });
    }, 120_000);
  });
}
