/**
 * Refuses hostile strings the database would choke on: a NUL character anywhere in a JSON body or
 * query string (PostgreSQL text cannot hold one, SQLite would truncate at it in places) → 400
 * `invalid_input`, before any handler runs. Other characters are data; names are checked by the core.
 * A URL longer than MAX_URL_LENGTH is refused first: 414 `uri_too_long`.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { GitSwarmError } from '../../errors.js';

const MAX_DEPTH = 64;
/** Longest URL (path and query) accepted; longer values belong in a body. */
export const MAX_URL_LENGTH = 8192;

/** Whether `value` holds a NUL character in any string or key, at most MAX_DEPTH levels down. */
export function containsNul(value: unknown, depth = 0): boolean {
  if (depth > MAX_DEPTH) return true;
  if (typeof value === 'string') return value.includes('\0');
  // Raw bytes (the files API's bodies) are data, not text the database stores.
  if (value instanceof Uint8Array) return false;
  if (Array.isArray(value)) return value.some((item) => containsNul(item, depth + 1));
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes('\0') || containsNul(item, depth + 1)) return true;
    }
  }
  return false;
}

async function inputGuardPlugin(app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', async (request) => {
    if (request.url.length > MAX_URL_LENGTH) {
      throw new GitSwarmError('uri_too_long', `The URL is longer than ${MAX_URL_LENGTH} characters.`);
    }
  });
  app.addHook('preValidation', async (request) => {
    if (containsNul(request.query) || containsNul(request.params) || containsNul(request.body)) {
      throw new GitSwarmError('invalid_input', 'Text may not contain NUL characters (or nest too deeply).');
    }
  });
}

/** Refuses NUL characters and absurd nesting in bodies, params and query strings. */
export const inputGuard = fp(inputGuardPlugin, { name: 'gitswarm-input-guard', fastify: '5.x' });
