/**
 * The dashboard (docs/dashboard.md): `index.html` at `/` and at the dashboard's page paths (an SPA
 * fallback for those paths only: anything else keeps its own 404), and the built assets under
 * `/assets/`, from `dist/web` (scripts/bundle-web.mjs). Asset names carry a content hash, so they
 * are cached for a year as immutable; the page itself is revalidated each time. The build writes
 * each file precompressed (brotli, gzip): the answer is the smallest one the client accepts, read
 * once into memory at start-up. No API route changes: the dashboard reads `/api/v1` like any client.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GitSwarmError } from '../../errors.js';
import type { App } from '../types.js';

/**
 * Where `npm run build` writes the dashboard: dist/web at the package root, found from wherever
 * this module runs (src/ under vitest, dist/src/ compiled, dist/bundle/ in the CLI bundle).
 */
export function defaultWebDir(): string {
  let dir = fileURLToPath(new URL('.', import.meta.url));
  for (let depth = 0; depth < 6; depth += 1) {
    const candidate = join(dir, 'dist', 'web');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    dir = dirname(dir);
  }
  return join(fileURLToPath(new URL('../../..', import.meta.url)), 'dist', 'web');
}

export interface WebOptions {
  /** The built dashboard (default: dist/web). */
  dir?: string;
}

/** The dashboard's page paths; the browser's router (src/web/router.ts) knows the same ones. */
export const PAGE_PATHS = ['/', '/activity', '/repos/:id', '/streams/:id', '/agents/:id'] as const;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Scripts and styles from this origin only; the WebSocket and the API on this origin too. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface StoredFile {
  type: string;
  identity: Buffer;
  br?: Buffer;
  gzip?: Buffer;
}

function readStored(path: string): StoredFile {
  const optional = (suffix: string) => (existsSync(path + suffix) ? readFileSync(path + suffix) : undefined);
  return {
    type: CONTENT_TYPES[extname(path)] ?? 'application/octet-stream',
    identity: readFileSync(path),
    br: optional('.br'),
    gzip: optional('.gz'),
  };
}

/** The encodings `accept-encoding` allows (a `;q=0` refuses one). */
function accepted(request: FastifyRequest): Set<string> {
  const header = request.headers['accept-encoding'];
  const names = new Set<string>();
  for (const part of (typeof header === 'string' ? header : '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name || params.some((p) => /^\s*q=0(\.0*)?\s*$/.test(p))) continue;
    names.add(name);
  }
  return names;
}

function send(request: FastifyRequest, reply: FastifyReply, file: StoredFile, cacheControl: string) {
  const encodings = accepted(request);
  reply
    .header('content-type', file.type)
    .header('cache-control', cacheControl)
    .header('vary', 'accept-encoding');
  reply.header('x-content-type-options', 'nosniff');
  if (file.br && encodings.has('br')) return reply.header('content-encoding', 'br').send(file.br);
  if (file.gzip && encodings.has('gzip')) return reply.header('content-encoding', 'gzip').send(file.gzip);
  return reply.send(file.identity);
}

/** Serves the dashboard at `/` (encapsulated: registers nothing outside its own routes). */
export async function webRoutes(app: App, options: WebOptions): Promise<void> {
  const dir = options.dir ?? defaultWebDir();
  const indexPath = join(dir, 'index.html');
  const index = existsSync(indexPath) ? readStored(indexPath) : null;
  const assets = new Map<string, StoredFile>();
  const assetDir = join(dir, 'assets');
  if (existsSync(assetDir)) {
    for (const name of readdirSync(assetDir)) {
      if (name.endsWith('.br') || name.endsWith('.gz')) continue;
      assets.set(name, readStored(join(assetDir, name)));
    }
  }
  const config = { auth: 'none' as const };
  const schema = { hide: true };

  for (const path of PAGE_PATHS) {
    app.get(path, { config, schema }, async (request, reply) => {
      if (!index) {
        throw new GitSwarmError('not_found', 'The dashboard is not built on this server.', {
          hint: 'Build it with npm run build (it writes dist/web), then restart the server.',
        });
      }
      reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
      reply.header('referrer-policy', 'no-referrer');
      reply.header('x-frame-options', 'DENY');
      return send(request, reply, index, 'no-cache');
    });
  }

  app.get('/assets/:name', { config, schema }, async (request, reply) => {
    const { name } = request.params as { name: string };
    const file = assets.get(name);
    if (!file) throw new GitSwarmError('not_found', `No dashboard asset ${name}.`);
    return send(request, reply, file, IMMUTABLE);
  });
}
