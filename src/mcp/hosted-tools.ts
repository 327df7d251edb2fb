/**
 * The tools of a server-held repository (Mode C) at `/mcp`: its git lives on the server, so the
 * agent works on its stream's server worktree through the file tools, and workspace_create,
 * commit and merge run the hosting functions the Mode C routes call (src/hosting/hosted-streams.ts,
 * stream-files.ts; src/core/streams/stream-conflicts.ts), with the file API's rules; stabilize queues a run
 * as POST /repos/:id/stabilize does and waits for it. `stream` defaults to the agent's own live
 * stream (its newest).
 */
import * as z from 'zod';
import type { CommandDeps } from '../cli/context.js';
import { toStreamView } from '../cli/views.js';
import { getStream, LIVE_STREAM_STATUSES, listStreams } from '../core/streams/streams.js';
import { GitSwarmError } from '../errors.js';
import type { HostingConfig } from '../hosting/config.js';
import type { Agent, StabilizeRun, Stream } from '../store/index.js';
import type { ToolAnnotations, ToolSpec } from './tools.js';

/** The command deps of a /mcp call on a server-held repository: the agent and the hosting settings. */
export interface HostedDeps extends CommandDeps {
  readonly agent: Agent;
  readonly hosting: HostingConfig;
  /** Wakes this instance's stabilization runner for a run just queued (else it finds it when it polls). */
  readonly kickStabilizer?: () => void;
}

function hosted(deps: CommandDeps): HostedDeps {
  const candidate = deps as Partial<HostedDeps>;
  if (!candidate.agent || !candidate.hosting) {
    throw new GitSwarmError('invalid_state', 'This tool works on a repository the server holds (Mode C).');
  }
  return deps as HostedDeps;
}

/** The named stream, or the agent's newest live stream. */
async function targetStream(deps: HostedDeps, ref: unknown): Promise<Stream> {
  const db = deps.core.store.db;
  if (typeof ref === 'string' && ref !== '') return getStream(db, deps.ctx.repo.id, ref);
  const live = await listStreams(db, deps.ctx.repo.id, {
    status: LIVE_STREAM_STATUSES,
    agentId: deps.agent.id,
  });
  const newest = live.sort((a, b) => b.created_at.localeCompare(a.created_at))[0];
  if (!newest) {
    throw new GitSwarmError('stream_not_found', `Agent ${deps.agent.name} has no live stream here.`, {
      hint: 'Create one with the workspace_create tool, or name the stream.',
    });
  }
  return newest;
}

/** How often a waiting stabilize call reads its run (progress comes sooner, as events). */
const RUN_POLL_MS = 250;
const FINISHED_RUN: ReadonlySet<string> = new Set(['green', 'red', 'flaky', 'error']);

/**
 * Waits for a server stabilization run to finish, telling its progress lines (the
 * `stabilize.progress` events this instance hears) as they come. The run row is the truth: it is
 * read until finished, so a run executed by another instance (no shared events bus) ends the wait too.
 */
async function awaitRun(
  deps: HostedDeps,
  runId: string,
  progress: (line: string) => void,
): Promise<StabilizeRun> {
  const { getStabilizeRun } = await import('../hosting/stabilize-jobs.js');
  const unsubscribe = deps.core.events.subscribe((event) => {
    const line = (event.metadata as { line?: unknown }).line;
    if (event.event_type === 'stabilize.progress' && event.target_id === runId && typeof line === 'string')
      progress(line);
  });
  try {
    for (;;) {
      const run = await getStabilizeRun(deps.core.store.db, deps.ctx.repo.id, runId);
      if (FINISHED_RUN.has(run.status)) return run;
      if (deps.io.signal?.aborted)
        throw new GitSwarmError('invalid_state', 'The session closed before the run ended.');
      await new Promise((resolve) => setTimeout(resolve, RUN_POLL_MS));
    }
  } finally {
    unsubscribe();
  }
}

const WRITE: ToolAnnotations = {
  readOnlyHint: false,
  destructiveHint: false,
  idempotentHint: false,
  openWorldHint: false,
};
const READ: ToolAnnotations = { ...WRITE, readOnlyHint: true, idempotentHint: true };

const streamArg = z
  .string()
  .min(1)
  .optional()
  .describe('The stream (id, name or branch); default: your own live stream');
const pathArg = z
  .string()
  .min(1)
  .describe('A path inside the repository, relative to its root (e.g. src/app.ts)');
const streamView = z.looseObject({
  id: z.string(),
  name: z.string(),
  branch: z.string(),
  status: z.string(),
});

export const HOSTED_TOOLS: readonly ToolSpec[] = [
  {
    name: 'workspace_create',
    title: 'Create your stream',
    description:
      'Start a stream of work on the server: a branch from the buffer head (or from the stream it depends on) with its own server worktree. Then write files with file_write and call commit.',
    input: {
      name: z.string().min(1).optional().describe('A short name for the stream (default: generated)'),
      task: z.string().min(1).optional().describe('The task this work is for (id or number)'),
      depends_on: z.string().min(1).optional().describe('Build on another stream not yet merged'),
    },
    output: { stream: streamView },
    annotations: WRITE,
    mutates: true,
    run: async (args, deps) => {
      const d = hosted(deps);
      const { createHostedStream } = await import('../hosting/hosted-streams.js');
      const stream = await createHostedStream(d.core, d.hosting, {
        repo: d.ctx.repo,
        agent: d.agent,
        ...(typeof args.name === 'string' ? { name: args.name } : {}),
        ...(typeof args.task === 'string' ? { taskRef: args.task } : {}),
        ...(typeof args.depends_on === 'string' ? { dependsOn: args.depends_on } : {}),
      });
      return { stream: toStreamView(stream) };
    },
  },
  {
    name: 'commit',
    title: 'Commit your stream',
    description:
      "Commit everything written in the stream's server worktree (with a Change-Id). In swarm mode it merges into the buffer at once; in review mode, next call review_request. Refused with conflict while conflict markers are left.",
    input: {
      message: z.string().min(1).describe('The commit message: what changed and why'),
      stream: streamArg,
    },
    output: { commit: z.string(), change_id: z.string(), stream_id: z.string(), merged: z.boolean() },
    annotations: WRITE,
    mutates: true,
    run: async (args, deps) => {
      const d = hosted(deps);
      const stream = await targetStream(d, args.stream);
      const { commitHostedStream } = await import('../hosting/hosted-streams.js');
      return commitHostedStream(d.core, d.hosting, {
        repo: d.ctx.repo,
        stream,
        agent: d.agent,
        message: String(args.message),
      });
    },
  },
  {
    name: 'merge',
    title: 'Merge a stream into the buffer',
    description:
      'Check consensus and dependencies, then merge the stream into the buffer. Refusals are tool errors: no_consensus, conflict (paths listed: call stream_update, fix the files with file_write, commit, merge again), dependency_unmerged, forbidden.',
    input: { stream: z.string().min(1).describe('The stream (id, name or branch)') },
    output: {
      merged: z.literal(true),
      stream_id: z.string(),
      merge_commit: z.string(),
      buffer_head: z.string(),
    },
    annotations: WRITE,
    mutates: true,
    run: async (args, deps) => {
      const d = hosted(deps);
      const stream = await targetStream(d, args.stream);
      const { mergeHostedStream } = await import('../hosting/hosted-streams.js');
      const result = await mergeHostedStream(d.core, d.hosting, { repo: d.ctx.repo, stream, actor: d.agent });
      return {
        merged: true,
        stream_id: stream.id,
        merge_commit: result.merge_commit,
        buffer_head: result.buffer_head,
        cascade: result.cascade ?? [],
      };
    },
  },
  {
    name: 'file_read',
    title: 'Read a file',
    description:
      "Read a file of the stream's server worktree (what you wrote, committed or not). Text comes back as utf8, anything else as base64.",
    input: { stream: streamArg, path: pathArg },
    output: {
      path: z.string(),
      content: z.string(),
      encoding: z.enum(['utf8', 'base64']),
      blob: z.string(),
      size: z.number(),
    },
    annotations: READ,
    mutates: false,
    run: async (args, deps) => {
      const d = hosted(deps);
      const stream = await targetStream(d, args.stream);
      const { readStreamFile } = await import('../hosting/stream-files.js');
      const file = await readStreamFile(d.hosting, {
        repo: d.ctx.repo,
        stream,
        path: String(args.path),
      });
      const text = file.content.toString('utf8');
      const isText = Buffer.from(text, 'utf8').equals(file.content) && !text.includes('\0');
      return {
        path: file.path,
        content: isText ? text : file.content.toString('base64'),
        encoding: isText ? 'utf8' : 'base64',
        blob: file.blob,
        size: file.size,
      };
    },
  },
  {
    name: 'file_write',
    title: 'Write a file',
    description:
      "Create or replace a file in the stream's server worktree (parent folders are made). Nothing is committed until you call commit.",
    input: {
      stream: streamArg,
      path: pathArg,
      content: z.string().describe('The whole new content'),
      encoding: z.enum(['utf8', 'base64']).optional().describe('How content is encoded (default utf8)'),
    },
    output: { path: z.string(), blob: z.string(), size: z.number(), created: z.boolean() },
    annotations: { ...WRITE, idempotentHint: true },
    mutates: false,
    run: async (args, deps) => {
      const d = hosted(deps);
      const stream = await targetStream(d, args.stream);
      const { writeStreamFile } = await import('../hosting/stream-files.js');
      const content = Buffer.from(String(args.content), args.encoding === 'base64' ? 'base64' : 'utf8');
      return writeStreamFile(d.core, d.hosting, {
        repo: d.ctx.repo,
        stream,
        actor: d.agent,
        path: String(args.path),
        content,
      });
    },
  },
  {
    name: 'file_delete',
    title: 'Delete a file',
    description: "Delete a file from the stream's server worktree; commit records the deletion.",
    input: { stream: streamArg, path: pathArg },
    output: { path: z.string(), blob: z.string() },
    annotations: { ...WRITE, destructiveHint: true },
    mutates: false,
    run: async (args, deps) => {
      const d = hosted(deps);
      const stream = await targetStream(d, args.stream);
      const { deleteStreamFile } = await import('../hosting/stream-files.js');
      return deleteStreamFile(d.core, d.hosting, {
        repo: d.ctx.repo,
        stream,
        actor: d.agent,
        path: String(args.path),
      });
    },
  },
  {
    name: 'file_list',
    title: 'List files',
    description: "The files and folders of the stream's server worktree under path (default: everything).",
    input: {
      stream: streamArg,
      path: z.string().optional().describe('A folder to list (default: the repository root)'),
    },
    output: {
      entries: z.array(z.looseObject({ path: z.string(), type: z.string(), size: z.number().nullable() })),
    },
    annotations: READ,
    mutates: false,
    run: async (args, deps) => {
      const d = hosted(deps);
      const stream = await targetStream(d, args.stream);
      const { listStreamTree } = await import('../hosting/stream-files.js');
      const entries = await listStreamTree(d.hosting, {
        repo: d.ctx.repo,
        stream,
        ...(typeof args.path === 'string' && args.path !== '' ? { path: args.path } : {}),
        recursive: true,
      });
      return { entries };
    },
  },
  {
    name: 'conflicts',
    title: "A stream's conflicts",
    description:
      'Which files of the stream conflict with its base (the buffer, or its parent) now, with both sides. Empty paths: it merges cleanly. To resolve: stream_update, then file_write each path without the markers, then commit.',
    input: { stream: z.string().min(1).describe('The stream (id, name or branch)') },
    output: {
      stream_id: z.string(),
      head: z.string().nullable(),
      onto: z.string().nullable(),
      paths: z.array(z.unknown()),
    },
    annotations: READ,
    mutates: false,
    run: async (args, deps) => {
      const d = hosted(deps);
      const stream = await targetStream(d, args.stream);
      const { readStreamConflicts } = await import('../core/streams/stream-conflicts.js');
      return readStreamConflicts(d.core, { repo: d.ctx.repo, stream });
    },
  },
  {
    name: 'stream_update',
    title: 'Bring the buffer into a stream',
    description:
      "Merge the stream's base (the buffer, or its parent) into its server worktree. Clean: committed at once (outcome merged). Conflicted: the files in paths hold conflict markers; write them resolved with file_write, then commit.",
    input: { stream: z.string().min(1).describe('The stream (id, name or branch)') },
    output: {
      stream_id: z.string(),
      outcome: z.enum(['up_to_date', 'fast_forward', 'merged', 'conflicted']),
      paths: z.array(z.string()).optional(),
    },
    annotations: WRITE,
    mutates: true,
    run: async (args, deps) => {
      const d = hosted(deps);
      const stream = await targetStream(d, args.stream);
      const [{ requireStreamWrite }, { streamWorktree }, { updateStreamFromBase }] = await Promise.all([
        import('../core/governance/access.js'),
        import('../hosting/stream-worktrees.js'),
        import('../core/streams/stream-conflicts.js'),
      ]);
      // As the route: refuse before a worktree is made for someone who may not use it.
      await requireStreamWrite(d.core, d.core.store.db, d.ctx.repo, stream, d.agent);
      const worktree = await streamWorktree(d.core, d.hosting, d.ctx.repo, stream);
      return updateStreamFromBase(d.core, { repo: d.ctx.repo, stream, actor: d.agent, worktree });
    },
  },
  {
    name: 'stabilize',
    title: 'Test the buffer',
    description:
      "Have the server run the repository's stabilize command (its tests) on the buffer head, in its sandbox, and wait for the verdict. green: tagged (next: promote). red: the server bisects the merges since the last green, may revert the breaking one and files a critical task for its author. Each run and bisection step is reported as progress. A run already queued or running is joined, not repeated.",
    input: {},
    output: {
      run_id: z.string(),
      result: z.enum(['green', 'red', 'flaky']),
      buffer_commit: z.string().nullable(),
      tag: z.string().nullable(),
      breaking_stream_id: z.string().nullable(),
      reverted: z.boolean(),
      task_id: z.string().nullable(),
      log_tail: z.string().describe('The last lines of the test output'),
    },
    annotations: { ...WRITE, destructiveHint: true },
    mutates: true,
    run: async (_args, deps, call) => {
      const d = hosted(deps);
      const { enqueueStabilizeRun } = await import('../hosting/stabilize-jobs.js');
      // The queue of the HTTP route, with its checks (write access, a command, this server's sandbox).
      const { run, created } = await enqueueStabilizeRun(d.core, {
        repo: d.ctx.repo,
        actor: d.agent,
        allowUnsandboxed: d.hosting.allowUnsandboxed,
        ...(d.hosting.stabilizeRuns.searchPath ? { searchPath: d.hosting.stabilizeRuns.searchPath } : {}),
      });
      if (created) d.kickStabilizer?.();
      const finished = await awaitRun(d, run.id, (line) => call.progress(line));
      if (finished.status === 'error') {
        throw new GitSwarmError(
          'stabilization_error',
          finished.error ?? 'The stabilize run could not judge the code.',
          {
            details: { run_id: finished.id, log_tail: finished.log_tail },
          },
        );
      }
      return {
        run_id: finished.id,
        result: finished.status as 'green' | 'red' | 'flaky',
        buffer_commit: finished.buffer_commit,
        tag: finished.tag,
        breaking_stream_id: finished.breaking_stream_id,
        reverted: finished.reverted,
        task_id: finished.task_id,
        log_tail: finished.log_tail,
      };
    },
  },
];
