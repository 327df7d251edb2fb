/** Refusal hints in tools (src/mcp/hints.ts): a CLI hint is replaced, any other kept. */
import { describe, expect, it } from 'vitest';
import { GitSwarmError } from '../../src/errors.js';
import { TOOL_HINTS, toolHintOf } from '../../src/mcp/hints.js';
import { toolError } from '../../src/mcp/server.js';
import { TOOLS } from '../../src/mcp/tools.js';

describe('refusal hints for agents on MCP', () => {
  it('replaces a hint that names a CLI command with the tool to call', () => {
    const error = new GitSwarmError('no_consensus', 'Not yet.'); // catalogue hint: gitswarm consensus
    expect(error.hint).toContain('gitswarm consensus');
    expect(toolHintOf(error)).toBe(TOOL_HINTS.no_consensus);
    const result = toolError(error);
    const document = result.structuredContent as { error: { hint?: string; code: string } };
    expect(document.error).toMatchObject({ code: 'no_consensus', hint: TOOL_HINTS.no_consensus });
    const text = result.content[0]?.type === 'text' ? result.content[0].text : '';
    expect(text).toContain(`hint: ${TOOL_HINTS.no_consensus}`);
    expect(text).not.toContain('gitswarm consensus');
  });

  it('keeps a hint that speaks no CLI, and drops a CLI hint with no tool equivalent', () => {
    expect(toolHintOf(new GitSwarmError('self_review', 'Own stream.'))).toBe(
      'Ask another agent to review the stream.',
    );
    const cliOnly = new GitSwarmError('council_not_found', 'None.');
    expect(cliOnly.hint).toContain('gitswarm council create');
    expect(toolHintOf(cliOnly)).toBeUndefined();
    expect((toolError(cliOnly).structuredContent as { error: object }).error).not.toHaveProperty('hint');
  });

  it('names only tools that exist', () => {
    const names = new Set([...TOOLS.map((tool) => tool.name), 'file_write', 'stream_update', 'conflicts']);
    for (const hint of Object.values(TOOL_HINTS)) {
      for (const [, tool] of hint.matchAll(/\b([a-z]+(?:_[a-z]+)+)\b/g)) expect(names, hint).toContain(tool);
    }
  });
});
