/**
 * What the CLI says when a command that only knows the local store runs on a connected clone:
 * refusing is better than changing a local copy the server never hears of.
 */
import type { Command } from 'commander';
import { GitSwarmError } from '../errors.js';

/** The command's full name (`task create`), without the program's. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current?.parent; current = current.parent) {
    names.unshift(current.name());
  }
  return names.join(' ');
}

export function notConnectedYet(command: Command, url: string): GitSwarmError {
  return new GitSwarmError(
    'invalid_state',
    `gitswarm ${commandPath(command)} does not work on a clone connected to a server (${url}) yet.`,
    {
      hint: 'Use the server’s HTTP API for it meanwhile (see docs/mode-b.md).',
    },
  );
}
