/**
 * The command server's open stores, one per location, shared by the commands it runs at once (as
 * the HTTP server shares its store between requests): opening and migrating is done once. A
 * SQLite file that is replaced or removed (a new `init`, a test's clean-up) is noticed at the
 * next borrow: that store is closed once its last borrower is done and the new file is opened.
 */
import { statSync } from 'node:fs';
import type { Store } from '../../store/index.js';
import { openCliStore } from '../context.js';
import type { BorrowedStore, StoreLender } from './store-seam.js';

/** At most this many stores stay open (a server used with many GITSWARM_DB values closes the oldest). */
const MAX_OPEN_STORES = 4;

interface Entry {
  readonly store: Promise<Store>;
  lastBorrowed: number;
  /** The SQLite file's device and inode when it was opened ('' for a database server). */
  identity: string | undefined;
  borrowers: number;
  retired: boolean;
}

function isServerUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//.test(location);
}

/** A SQLite file's identity (device and inode), or 'missing'. */
function fileIdentity(location: string): string {
  if (isServerUrl(location) || location === ':memory:') return '';
  try {
    const stat = statSync(location);
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return 'missing';
  }
}

export interface OpenStores extends StoreLender {
  readonly size: number;
  closeAll(): Promise<void>;
}

export function createOpenStores(): OpenStores {
  const entries = new Map<string, Entry>();

  const retire = async (entry: Entry) => {
    entry.retired = true;
    if (entry.borrowers === 0) await (await entry.store).close();
  };

  /** Makes room for one more store: retires the least recently borrowed beyond the limit. */
  const closeOldest = () => {
    if (entries.size < MAX_OPEN_STORES) return;
    const [location, oldest] = [...entries].sort((a, b) => a[1].lastBorrowed - b[1].lastBorrowed)[0] ?? [];
    if (location === undefined || !oldest) return;
    entries.delete(location);
    void retire(oldest).catch(() => {});
  };

  return {
    get size() {
      return entries.size;
    },
    async borrow(location): Promise<BorrowedStore> {
      let entry = entries.get(location);
      if (entry?.identity !== undefined && entry.identity !== fileIdentity(location)) {
        entries.delete(location);
        void retire(entry).catch(() => {});
        entry = undefined;
      }
      if (!entry) {
        const opened = openCliStore(location);
        const fresh: Entry = {
          store: opened,
          lastBorrowed: 0,
          identity: undefined,
          borrowers: 0,
          retired: false,
        };
        closeOldest();
        opened.then(
          () => {
            fresh.identity = fileIdentity(location);
          },
          () => {
            if (entries.get(location) === fresh) entries.delete(location);
          },
        );
        entries.set(location, fresh);
        entry = fresh;
      }
      const borrowed = entry;
      borrowed.borrowers++;
      borrowed.lastBorrowed = Date.now();
      let store: Store;
      try {
        store = await borrowed.store;
      } catch (error) {
        borrowed.borrowers--;
        throw error;
      }
      let given = false;
      return {
        store,
        async release() {
          if (given) return;
          given = true;
          borrowed.borrowers--;
          if (borrowed.retired && borrowed.borrowers === 0) await store.close();
        },
      };
    },
    async closeAll() {
      const all = [...entries.values()];
      entries.clear();
      await Promise.allSettled(all.map(async (entry) => (await entry.store).close()));
    },
  };
}
