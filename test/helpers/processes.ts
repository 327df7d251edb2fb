/**
 * Live processes, read from /proc: for tests that check what a command left running (sandboxed
 * test runs, the command server's git helper).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Ids of live processes (other than this one) for which `match` holds; one that exits meanwhile is skipped. */
function processesWhere(match: (pid: number) => boolean): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (match(Number(entry))) found.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

/** A process's command line, one element per argument. */
export function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}

/** Ids of live processes whose command line contains `token`. */
export function processesWith(token: string): number[] {
  return processesWhere((pid) => commandLine(pid).join(' ').includes(token));
}

/** Ids of the live processes whose parent is `parent`. */
export function childrenOf(parent: number): number[] {
  return processesWhere((pid) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid …: the comm may hold spaces and parentheses, so read after the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent;
  });
}
