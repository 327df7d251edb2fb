/**
 * Where a command gets its store: opened for it and closed after it (a `gitswarm` process), or
 * borrowed from the command server's open stores (set by the server; nothing else sets it).
 */
import type { Store } from '../../store/index.js';

export interface BorrowedStore {
  readonly store: Store;
  /** Gives the store back (it stays open for the next command). */
  release(): Promise<void>;
}

export interface StoreLender {
  borrow(location: string): Promise<BorrowedStore>;
}

let lender: StoreLender | undefined;

export function setStoreLender(next: StoreLender | undefined): void {
  lender = next;
}

/** The command server's open stores, or undefined in a process that runs one command. */
export function storeLender(): StoreLender | undefined {
  return lender;
}
