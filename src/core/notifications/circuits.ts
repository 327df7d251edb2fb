/**
 * Circuit breakers per webhook target host (`host:port`): after `threshold` consecutive failed
 * attempts the circuit opens for `openMs`, and deliveries to that host wait until it closes
 * instead of being tried. The first attempt after that is the probe: a success closes the circuit
 * (the run of failures starts over), a failure opens it again at once. The state lives in
 * gitswarm_webhook_circuits, so every instance and a restarted server see it.
 */
import type { Executor } from '../../store/index.js';

export const DEFAULT_CIRCUIT_THRESHOLD = 5;
export const DEFAULT_CIRCUIT_OPEN_MS = 60_000;

export interface CircuitView {
  target: string;
  state: 'closed' | 'open';
  consecutive_failures: number;
  open_until: string | null;
  last_error: string | null;
}

/** The circuit key of a webhook URL: its host and port, lower case (`example.org:443`). */
export function circuitTarget(url: string): string {
  const parsed = new URL(url);
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  return `${parsed.hostname.toLowerCase()}:${port}`;
}

/** The circuit of a webhook URL's host as it stands at `now` (closed with no failures if none). */
export async function getCircuit(db: Executor, url: string, now: string): Promise<CircuitView> {
  const target = circuitTarget(url);
  const row = await db
    .selectFrom('gitswarm_webhook_circuits')
    .selectAll()
    .where('target', '=', target)
    .executeTakeFirst();
  const open = row?.open_until != null && row.open_until > now;
  return {
    target,
    state: open ? 'open' : 'closed',
    consecutive_failures: row?.consecutive_failures ?? 0,
    open_until: open ? (row?.open_until ?? null) : null,
    last_error: row?.last_error ?? null,
  };
}

/** Targets whose circuit is open at `now`, with when each closes. */
export async function openCircuits(db: Executor, now: string): Promise<Map<string, string>> {
  const rows = await db
    .selectFrom('gitswarm_webhook_circuits')
    .select(['target', 'open_until'])
    .where('open_until', '>', now)
    .execute();
  return new Map(rows.map((row) => [row.target, row.open_until as string]));
}

/** A delivery to `target` succeeded: the run of failures ends and the circuit closes. */
export async function recordCircuitSuccess(db: Executor, target: string, now: string): Promise<void> {
  await db
    .updateTable('gitswarm_webhook_circuits')
    .set({ consecutive_failures: 0, open_until: null, updated_at: now })
    .where('target', '=', target)
    .where('consecutive_failures', '>', 0)
    .execute();
}

export interface CircuitFailureInput {
  target: string;
  error: string;
  now: string;
  threshold: number;
  /** When the circuit closes again if this failure opens it. */
  openUntil: string;
}

/**
 * Counts a failed delivery to `target`; opens the circuit when the run reaches the threshold.
 * Returns when the circuit closes if this failure opened it, else null.
 */
export async function recordCircuitFailure(db: Executor, input: CircuitFailureInput): Promise<string | null> {
  const error = input.error.slice(0, 1000);
  await db
    .insertInto('gitswarm_webhook_circuits')
    .values({ target: input.target, consecutive_failures: 1, last_error: error, updated_at: input.now })
    .onConflict((oc) =>
      oc.column('target').doUpdateSet((eb) => ({
        consecutive_failures: eb('gitswarm_webhook_circuits.consecutive_failures', '+', 1),
        last_error: error,
        updated_at: input.now,
      })),
    )
    .execute();
  // Opens only a circuit that is not open already (compare-and-swap: one instance opens it).
  const opened = await db
    .updateTable('gitswarm_webhook_circuits')
    .set({ open_until: input.openUntil })
    .where('target', '=', input.target)
    .where('consecutive_failures', '>=', input.threshold)
    .where((eb) => eb.or([eb('open_until', 'is', null), eb('open_until', '<=', input.now)]))
    .executeTakeFirst();
  return Number(opened.numUpdatedRows) === 1 ? input.openUntil : null;
}
