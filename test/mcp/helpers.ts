/**
 * MCP test helpers: the SDK's own Client talking to a real `gitswarm mcp` process over stdio (the
 * built binary), and small readers of tool results.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult, Notification } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'vitest';
import { BIN } from '../cli/helpers.js';
import { requireFreshBuild } from '../helpers/built.js';

export interface AgentClient {
  readonly client: Client;
  readonly stderr: string[];
  /** Every notification the server sent, in order. */
  readonly notifications: Notification[];
  /** Calls a tool and returns the whole result (refusals included). */
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  /** Calls a tool that must succeed; returns its structured content. */
  ok<T = Record<string, unknown>>(name: string, args?: Record<string, unknown>): Promise<T>;
  /** Calls a tool that must be refused with `code`; returns the error document. */
  refused(name: string, args: Record<string, unknown>, code: string): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

let built = false;

/** Starts `gitswarm mcp --as AGENT` in `cwd` and connects the SDK client to it. */
export async function connectStdio(
  cwd: string,
  env: NodeJS.ProcessEnv,
  agent: string | undefined,
  extraArgs: string[] = [],
): Promise<AgentClient> {
  if (!built) {
    requireFreshBuild();
    built = true;
  }
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'mcp', ...(agent ? ['--as', agent] : []), ...extraArgs],
    cwd,
    env: { ...(env as Record<string, string>), GITSWARM_MCP_POLL_MS: '200' },
    stderr: 'pipe',
  });
  const stderr: string[] = [];
  transport.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const client = new Client({ name: `test-${agent ?? 'default'}`, version: '1.0.0' });
  const notifications: Notification[] = [];
  client.fallbackNotificationHandler = async (notification) => {
    notifications.push(notification);
  };
  await client.connect(transport);
  return wrap(client, stderr, notifications);
}

export function wrap(client: Client, stderr: string[], notifications: Notification[]): AgentClient {
  const call = async (name: string, args: Record<string, unknown> = {}) =>
    (await client.callTool({ name, arguments: args })) as CallToolResult;
  return {
    client,
    stderr,
    notifications,
    call,
    async ok<T>(name: string, args: Record<string, unknown> = {}) {
      const result = await call(name, args);
      expect({
        name,
        isError: result.isError ?? false,
        text: result.isError ? result.content : undefined,
      }).toEqual({
        name,
        isError: false,
        text: undefined,
      });
      expect(result.structuredContent).toBeDefined();
      const textPart = result.content[0];
      expect(textPart?.type === 'text' && JSON.parse(textPart.text)).toEqual(result.structuredContent);
      return result.structuredContent as T;
    },
    async refused(name: string, args: Record<string, unknown>, code: string) {
      const result = await call(name, args);
      expect(result.isError).toBe(true);
      const error = (result.structuredContent as { error: Record<string, unknown> }).error;
      expect(error.code).toBe(code);
      const textPart = result.content[0];
      expect(textPart?.type).toBe('text');
      const text = textPart?.type === 'text' ? textPart.text : '';
      expect(text).toContain(`error ${code}: ${String(error.message)}`);
      if (error.hint) expect(text).toContain(`hint: ${String(error.hint)}`);
      return error;
    },
    close: () => client.close(),
  };
}

/** Waits until `predicate` holds (polling), or fails after `ms`. */
export async function eventually(predicate: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
