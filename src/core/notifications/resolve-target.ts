/**
 * Resolves a webhook host to the one address a delivery will connect to. Every address the name
 * resolves to is checked (blocked-addresses.ts); if any is blocked the target is refused, so a
 * name with one public and one private answer cannot pick its way in. The caller connects to the
 * address returned, never to the name again, so a second DNS answer (rebinding) cannot switch it.
 *
 * The default lookup asks DNS through c-ares with its own timeout, not getaddrinfo: getaddrinfo
 * runs on libuv's four worker threads and cannot be cancelled, so a few hosts whose lookups hang
 * would stall every other lookup (and file access) in the process. It does not read /etc/hosts;
 * `localhost` and `*.localhost` are loopback and `*.invalid` never resolves (RFC 6761), both
 * without a query.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { blockedAddressReason } from './blocked-addresses.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Looks a host name up; rejects when it cannot. Must stop when `signal` aborts. */
export type HostLookup = (hostname: string, signal: AbortSignal) => Promise<ResolvedAddress[]>;

export const DEFAULT_LOOKUP_TIMEOUT_MS = 5000;

/** A webhook target that may not be delivered to, with the reason (stored as the delivery's error). */
export class BlockedTargetError extends Error {
  override name = 'BlockedTargetError';
}

function notFound(hostname: string): Error {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
}

/** DNS A and AAAA queries through c-ares, cancelled when `signal` aborts. */
export const dnsLookup: HostLookup = async (hostname, signal) => {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) {
    return [
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ];
  }
  if (name === 'invalid' || name.endsWith('.invalid')) throw notFound(hostname);
  const resolver = new Resolver({ timeout: DEFAULT_LOOKUP_TIMEOUT_MS, tries: 1 });
  const cancel = () => resolver.cancel();
  signal.addEventListener('abort', cancel, { once: true });
  try {
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
    signal.throwIfAborted();
    const found: ResolvedAddress[] = [
      ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 as const })) : []),
      ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 as const })) : []),
    ];
    if (found.length > 0) return found;
    throw v4.status === 'rejected' ? v4.reason : notFound(hostname);
  } finally {
    signal.removeEventListener('abort', cancel);
  }
};

/** Rejects after `ms` or when `signal` aborts, whichever is first; clears its timer either way. */
async function withTimeout<T>(
  work: (signal: AbortSignal) => Promise<T>,
  ms: number,
  signal: AbortSignal,
  what: string,
): Promise<T> {
  const controller = new AbortController();
  const stop = () => controller.abort(signal.reason);
  signal.addEventListener('abort', stop, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = Object.assign(new Error(`${what} timed out after ${ms} ms`), { name: 'TimeoutError' });
      controller.abort(error);
      reject(error);
    }, ms);
  });
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
  });
  try {
    return await Promise.race([work(controller.signal), timeout, aborted]);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', stop);
    if (!controller.signal.aborted) controller.abort();
  }
}

export interface ResolveTargetOptions {
  lookup?: HostLookup;
  lookupTimeoutMs?: number;
  /** Skip the address check (loopback and private targets allowed); the address is still pinned. */
  allowPrivate?: boolean;
  signal?: AbortSignal;
}

/**
 * The address to connect to for `hostname` (a name or an IP literal, brackets allowed), after
 * checking every address it resolves to. Throws BlockedTargetError for a blocked address.
 */
export async function resolveTarget(
  hostname: string,
  options: ResolveTargetOptions = {},
): Promise<ResolvedAddress> {
  const host = hostname.replace(/^\[|\]$/g, '');
  const literal = isIP(host);
  const addresses: ResolvedAddress[] = literal
    ? [{ address: host, family: literal as 4 | 6 }]
    : await withTimeout(
        (signal) => (options.lookup ?? dnsLookup)(host, signal),
        options.lookupTimeoutMs ?? DEFAULT_LOOKUP_TIMEOUT_MS,
        options.signal ?? new AbortController().signal,
        `looking up ${host}`,
      );
  if (addresses.length === 0) throw notFound(host);
  if (!options.allowPrivate) {
    for (const { address } of addresses) {
      const reason = blockedAddressReason(address);
      if (reason) {
        throw new BlockedTargetError(
          `the webhook host ${host} resolves to ${address} (${reason}), in a private network; deliveries there are off`,
        );
      }
    }
  }
  return addresses[0] as ResolvedAddress;
}

/** Whether a webhook URL's host is or resolves to a blocked address (see resolveTarget). */
export async function isPrivateTarget(url: string, options: Omit<ResolveTargetOptions, 'allowPrivate'> = {}) {
  try {
    await resolveTarget(new URL(url).hostname, options);
    return false;
  } catch (error) {
    if (error instanceof BlockedTargetError) return true;
    throw error;
  }
}
