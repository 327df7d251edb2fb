/**
 * One webhook POST over node:http/https, connected to an address resolve-target.ts checked: the
 * socket's `lookup` answers that address whatever the name resolves to now, while the URL's host
 * stays in the Host header and the TLS server name (SNI, certificate check). Each phase has a
 * bound: the lookup, the connect, and the whole request (lookup included). Redirects are not
 * followed; the answer's body is not read.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { type HostLookup, type ResolvedAddress, resolveTarget } from './resolve-target.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

export interface PostWebhookOptions {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Bounds the whole request, lookup included. */
  timeoutMs: number;
  lookupTimeoutMs?: number;
  connectTimeoutMs?: number;
  lookup?: HostLookup;
  allowPrivate?: boolean;
  /** Aborts the request (shutdown). */
  signal?: AbortSignal;
}

/** A `lookup` for net.connect that always answers `pinned` (both the single and the `all` form). */
export function pinnedLookup(pinned: ResolvedAddress): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
    else callback(null, pinned.address, pinned.family);
  }) as LookupFunction;
}

/** POSTs the body; resolves with the answer's status code, rejects on any failure or timeout. */
export async function postWebhook(options: PostWebhookOptions): Promise<number> {
  const url = new URL(options.url);
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  const pinned = await resolveTarget(url.hostname, {
    lookup: options.lookup,
    lookupTimeoutMs: options.lookupTimeoutMs,
    allowPrivate: options.allowPrivate,
    signal,
  });
  signal.throwIfAborted();
  const client = url.protocol === 'https:' ? https : http;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return new Promise<number>((resolve, reject) => {
    const request = client.request(url, {
      method: 'POST',
      headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) },
      lookup: pinnedLookup(pinned),
      // A fresh connection each time: a pooled socket would skip the pinned lookup's check.
      agent: false,
      signal,
    });
    request.once('socket', (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => {
        request.destroy(
          Object.assign(new Error(`connecting to ${url.host} timed out after ${connectTimeoutMs} ms`), {
            name: 'TimeoutError',
          }),
        );
      }, connectTimeoutMs);
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
    request.once('response', (response) => {
      resolve(response.statusCode ?? 0);
      response.destroy();
    });
    request.once('error', (error) => reject(signal.aborted ? (signal.reason ?? error) : error));
    request.end(options.body);
  });
}
