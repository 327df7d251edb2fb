/**
 * What an agent can read without calling a tool, and how it learns that something changed:
 *
 * - `gitswarm://status`: the repository status (as the status tool);
 * - `gitswarm://activity`: the latest activity (as the activity tool);
 * - `gitswarm://streams/{id}`: a live stream with its reviews and consensus;
 * - `gitswarm://streams/{id}/diff`: the stream's diff against the buffer.
 *
 * Other agents change the repository from their own processes, so a watcher reads the activity
 * log (every `pollMs`, and at once after this server's own changes). New stream events re-list the
 * live streams and send `notifications/resources/list_changed` when the list differs; each event
 * on a stream sends `notifications/resources/updated` for that stream's resources a client
 * subscribed to (and for status and activity, on any event). The watcher starts when the client
 * first lists, reads or subscribes to resources: a client that never does costs nothing.
 */
import { type McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  type ReadResourceResult,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { invokeTool, type McpBackend } from './server.js';
import type { ToolSpec } from './tools.js';

export const STATUS_URI = 'gitswarm://status';
export const ACTIVITY_URI = 'gitswarm://activity';
export const streamUri = (id: string) => `gitswarm://streams/${id}`;
export const streamDiffUri = (id: string) => `gitswarm://streams/${id}/diff`;

export interface McpResources {
  /** This server changed something: look for changes now. */
  changed(): void;
  /** Looks for changes once and sends the notifications (tests await it). */
  check(): Promise<void>;
  /** The URIs the client subscribed to. */
  readonly subscriptions: ReadonlySet<string>;
  stop(): void;
}

const SILENT = { progress: () => {} };
/** Activity ids remembered to tell new entries from seen ones. */
const SEEN_LIMIT = 2000;
const WATCHED_ENTRIES = 200;

function json(uri: string, value: unknown): ReadResourceResult {
  return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(value, null, 2) }] };
}

export function registerResources(
  mcp: McpServer,
  backend: McpBackend,
  tools: readonly ToolSpec[],
  options: { pollMs: number },
): McpResources {
  const subscriptions = new Set<string>();
  /** Resources read through the tools of the table (those this server offers). */
  const read = async <T>(name: string, args: Record<string, unknown> = {}): Promise<T> => {
    const tool = tools.find((t) => t.name === name);
    if (!tool) throw new Error(`This server has no ${name} tool`);
    return (await invokeTool(backend, tool, args, SILENT)) as T;
  };
  const has = (name: string) => tools.some((t) => t.name === name);

  const liveStreams = async () =>
    (await read<{ streams: { id: string; name: string; agent: string; status: string }[] }>('status'))
      .streams;

  mcp.registerResource(
    'status',
    STATUS_URI,
    {
      title: 'Repository status',
      description:
        'Settings, buffer and main heads, workspaces, live streams, merge queue, last stabilization.',
      mimeType: 'application/json',
    },
    async (uri) => {
      await watcher.start();
      return json(uri.href, await read('status'));
    },
  );
  mcp.registerResource(
    'activity',
    ACTIVITY_URI,
    {
      title: 'Activity feed',
      description: 'The latest 50 events of the repository, oldest first.',
      mimeType: 'application/json',
    },
    async (uri) => {
      await watcher.start();
      return json(uri.href, await read('activity', { limit: 50 }));
    },
  );
  mcp.registerResource(
    'stream',
    new ResourceTemplate('gitswarm://streams/{stream}', {
      list: async () => {
        await watcher.start();
        return {
          resources: (await liveStreams()).map((s) => ({
            uri: streamUri(s.id),
            name: `stream ${s.name}`,
            title: `Stream ${s.name} (${s.agent}, ${s.status})`,
            mimeType: 'application/json',
          })),
        };
      },
    }),
    {
      title: 'A stream',
      description: 'A live stream with its reviews and its consensus (whether it may merge).',
      mimeType: 'application/json',
    },
    async (uri, variables) => {
      await watcher.start();
      const ref = String(variables.stream);
      const consensus = await read<{ stream_id: string }>('consensus', { stream: ref });
      const reviews = await read<{ reviews: unknown[] }>('review_list', { stream: ref });
      return json(uri.href, { stream_id: consensus.stream_id, consensus, reviews: reviews.reviews });
    },
  );
  if (has('diff')) {
    mcp.registerResource(
      'stream_diff',
      new ResourceTemplate('gitswarm://streams/{stream}/diff', {
        list: async () => {
          await watcher.start();
          return {
            resources: (await liveStreams()).map((s) => ({
              uri: streamDiffUri(s.id),
              name: `diff of ${s.name}`,
              mimeType: 'text/x-diff',
            })),
          };
        },
      }),
      {
        title: "A stream's diff",
        description: 'The stream against the buffer, as a patch.',
        mimeType: 'text/x-diff',
      },
      async (uri, variables) => {
        await watcher.start();
        const diff = await read<{ diff: string }>('diff', { stream: String(variables.stream) });
        return { contents: [{ uri: uri.href, mimeType: 'text/x-diff', text: diff.diff }] };
      },
    );
  }

  mcp.server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    subscriptions.add(request.params.uri);
    await watcher.start();
    return {};
  });
  mcp.server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    subscriptions.delete(request.params.uri);
    return {};
  });

  const watcher = createWatcher();

  function createWatcher() {
    let timer: NodeJS.Timeout | undefined;
    let started = false;
    let stopped = false;
    let first: Promise<void> | undefined;
    let seen: Set<string> | undefined;
    let listed: string | undefined;
    let pending: Promise<void> | undefined;
    let again = false;

    const notify = (uri: string) => {
      if (subscriptions.has(uri)) mcp.server.sendResourceUpdated({ uri }).catch(() => {});
    };

    const once = async () => {
      const { activity } = await read<{
        activity: {
          id: string;
          event_type: string;
          target_type: string | null;
          target_id: string | null;
          metadata?: Record<string, unknown>;
        }[];
      }>('activity', { limit: WATCHED_ENTRIES });
      const firstLook = seen === undefined;
      const known = seen ?? new Set<string>();
      const fresh = activity.filter((entry) => !known.has(entry.id));
      for (const entry of fresh) known.add(entry.id);
      if (known.size > SEEN_LIMIT) seen = new Set(activity.map((entry) => entry.id));
      else seen = known;
      if (firstLook) {
        listed = (await liveStreams()).map((s) => s.id).join(',');
        return;
      }
      if (fresh.length === 0) return;
      notify(STATUS_URI);
      notify(ACTIVITY_URI);
      const touched = new Set<string>();
      for (const entry of fresh) {
        if (entry.target_type === 'stream' && entry.target_id) touched.add(entry.target_id);
        const streamId = entry.metadata?.stream_id;
        if (typeof streamId === 'string') touched.add(streamId);
      }
      for (const id of touched) {
        notify(streamUri(id));
        if (has('diff')) notify(streamDiffUri(id));
      }
      if (fresh.some((e) => e.event_type.startsWith('stream.') || e.event_type.startsWith('workspace.'))) {
        const now = (await liveStreams()).map((s) => s.id).join(',');
        if (now !== listed) {
          listed = now;
          if (mcp.isConnected()) mcp.sendResourceListChanged();
        }
      }
    };

    const check = (): Promise<void> => {
      if (stopped) return Promise.resolve();
      if (pending) {
        again = true;
        return pending;
      }
      pending = (async () => {
        try {
          do {
            again = false;
            await once();
          } while (again && !stopped);
        } catch {
          // A failed look (the store busy, the server away) is retried at the next tick.
        } finally {
          pending = undefined;
        }
      })();
      return pending;
    };

    return {
      /** Starts watching; resolves once the baseline is taken (changes after it are notified). */
      start(): Promise<void> {
        if (started || stopped) return first ?? Promise.resolve();
        started = true;
        first = check();
        if (options.pollMs > 0) {
          timer = setInterval(() => void check(), options.pollMs);
          timer.unref();
        }
        return first;
      },
      check,
      changed() {
        if (started) void check();
      },
      stop() {
        stopped = true;
        if (timer) clearInterval(timer);
      },
    };
  }

  return {
    changed: () => watcher.changed(),
    check: () => watcher.check(),
    subscriptions,
    stop: () => watcher.stop(),
  };
}
