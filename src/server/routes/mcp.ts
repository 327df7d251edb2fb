/**
 * MCP over Streamable HTTP at `/mcp` (POST for messages, GET for the server's event stream,
 * DELETE to end a session), with the SDK's transport:
 *
 * - the bearer key names the agent (the auth plugin, as for every route; a wrong key is 401), and
 *   a session stays the agent's: a request with another agent's key is refused (403);
 * - `?repo=` (id or name) picks the repository at initialization (else the only one there is);
 * - sessions (`Mcp-Session-Id`), and resumability: each session keeps its recent events so a client
 *   reconnecting with `Last-Event-ID` gets what it missed;
 * - DNS-rebinding protection as the SDK documents it: the Host header's name must be an allowed
 *   host (`mcpAllowedHosts`; default localhost names), and a browser Origin must be allowed too;
 * - rate limits as the rest of the API (the global limiter counts each request against the key).
 */
import { randomUUID } from 'node:crypto';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GitSwarmError } from '../../errors.js';
import { httpBackend, resolveSessionRepo, toolsFor } from '../../mcp/http.js';
import { createMcpServer, type GitSwarmMcpServer } from '../../mcp/server.js';
import { actingAgent } from '../plugins/auth.js';
import type { App } from '../types.js';

export const MCP_PATH = '/mcp';
/** Host names allowed by default: a server reached on this machine. */
export const DEFAULT_MCP_ALLOWED_HOSTS = ['localhost', '127.0.0.1', '[::1]'];
/** Open sessions per server instance; the oldest is closed beyond this. */
export const MAX_MCP_SESSIONS = 1000;

export interface McpRouteOptions {
  /** Host names (no port) the Host header may carry; `*` allows any (behind a trusted proxy). */
  allowedHosts?: readonly string[];
  /** Origins (scheme://host:port) a browser may call from; default: none but the allowed hosts. */
  allowedOrigins?: readonly string[];
  /** The resource watcher's interval (ms). */
  pollMs?: number;
}

interface Session {
  readonly agentId: string;
  readonly transport: StreamableHTTPServerTransport;
  readonly server: GitSwarmMcpServer;
}

function rpcError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
}

/** The host name of a Host header (`example.com:3000` → `example.com`), or null when malformed. */
function hostnameOf(host: string | undefined): string | null {
  if (!host) return null;
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return null;
  }
}

export async function mcpRoutes(app: App, options: McpRouteOptions): Promise<void> {
  const allowedHosts = options.allowedHosts ?? DEFAULT_MCP_ALLOWED_HOSTS;
  const anyHost = allowedHosts.includes('*');
  const sessions = new Map<string, Session>();
  const controller = new AbortController();

  /** DNS rebinding: a page on another site resolving its name to this server is refused. */
  const rebindingRefusal = (request: FastifyRequest): string | null => {
    const hostname = hostnameOf(request.headers.host);
    if (!anyHost && (hostname === null || !allowedHosts.includes(hostname))) {
      return `Invalid Host header: ${request.headers.host ?? '(none)'}`;
    }
    const origin = request.headers.origin;
    if (origin === undefined) return null;
    if (options.allowedOrigins?.includes(origin)) return null;
    const originHost = hostnameOf(origin.replace(/^[a-z]+:\/\//i, ''));
    if (anyHost || (originHost !== null && allowedHosts.includes(originHost))) return null;
    return `Invalid Origin header: ${origin}`;
  };

  const openSession = async (request: FastifyRequest): Promise<StreamableHTTPServerTransport> => {
    const agent = actingAgent(request);
    const ref = (request.query as { repo?: string }).repo;
    const repo = await resolveSessionRepo(app.deps, agent, ref);
    const backend = httpBackend(app.deps, app.hosting, agent, repo.id, controller.signal, () =>
      app.stabilizeRunner?.kick(),
    );
    const server = createMcpServer(backend, { tools: toolsFor(repo), pollMs: options.pollMs ?? 1000 });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: new InMemoryEventStore(),
      onsessioninitialized: (id) => {
        sessions.set(id, { agentId: agent.id, transport, server });
        if (sessions.size > MAX_MCP_SESSIONS) {
          const [oldest] = sessions.keys();
          if (oldest !== undefined) void sessions.get(oldest)?.transport.close();
        }
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
      void server.close().catch(() => {});
    };
    await server.mcp.connect(transport);
    return transport;
  };

  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    const refusal = rebindingRefusal(request);
    if (refusal) return rpcError(reply, 403, refusal);
    const agent = actingAgent(request);
    const header = request.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    let transport: StreamableHTTPServerTransport;
    if (sessionId !== undefined) {
      const session = sessions.get(sessionId);
      if (!session) return rpcError(reply, 404, 'Session not found');
      if (session.agentId !== agent.id) {
        throw new GitSwarmError('forbidden', 'This MCP session belongs to another agent.', {
          hint: 'Open your own session with your own key.',
        });
      }
      transport = session.transport;
    } else if (request.method === 'POST' && isInitializeRequest(request.body)) {
      transport = await openSession(request);
    } else {
      return rpcError(reply, 400, 'Bad Request: no valid session ID (initialize first)');
    }
    reply.hijack();
    await transport.handleRequest(request.raw, reply.raw, request.body);
    return reply;
  };

  const config = { auth: 'required' as const, idempotent: false };
  const schema = { hide: true };
  app.post(MCP_PATH, { config, schema }, handle);
  app.get(MCP_PATH, { config, schema }, handle);
  app.delete(MCP_PATH, { config, schema }, handle);

  // preClose, not onClose: an open event stream (GET /mcp) is a request in flight, and the server
  // would wait for it before running onClose hooks.
  app.addHook('preClose', async () => {
    controller.abort();
    await Promise.all([...sessions.values()].map((s) => s.transport.close().catch(() => {})));
    sessions.clear();
  });
}
