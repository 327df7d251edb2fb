/** A way to hold a repository's lock around `work`: one store's operation lock, say. */
export type HoldLock = (repoId: string, work: () => Promise<void>) => Promise<void>;

/**
 * The order in which a holder, its release and a waiter ran: `holder` takes `repoId` first,
 * `waiter` asks for it while it is held, and `waiterBlocked` resolves once the waiter must be
 * waiting. Exclusion gives `['released', 'holder', 'waiter']`.
 */
export async function lockOrder(
  holder: HoldLock,
  waiter: HoldLock,
  repoId: string,
  waiterBlocked: () => Promise<void>,
): Promise<string[]> {
  const order: string[] = [];
  let entered!: () => void;
  let finish!: () => void;
  const inside = new Promise<void>((resolve) => {
    entered = resolve;
  });
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const holding = holder(repoId, async () => {
    entered();
    await finished;
    order.push('holder');
  });
  await inside;
  const waiting = waiter(repoId, async () => {
    order.push('waiter');
  });
  await waiterBlocked();
  order.push('released');
  finish();
  await Promise.all([holding, waiting]);
  return order;
}

/**
 * For a SQLite file lock, which shows no waiter: a bounded window in which a waiter that ran
 * early would be caught.
 */
export function sqliteWaiterWindow(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 150));
}
