// Runs the MCP conformance suite (@modelcontextprotocol/conformance, server scenarios) against
// `/mcp` of a real GitSwarm server on loopback. The suite sends no API key, so a small loopback
// proxy adds one agent's bearer key to each request and passes everything else (Host and Origin
// included) through unchanged. Needs a build (npm run build). Usage:
//   node scripts/mcp-conformance.mjs [--scenario NAME] [-o DIR]
// Exits with the suite's exit code; the scenarios GitSwarm does not offer are listed in docs/mcp.md.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { startServer } = await import(join(root, 'dist/src/server/serve.js'));

const dataDir = mkdtempSync(join(tmpdir(), 'gitswarm-conformance-'));
const server = await startServer({
  port: 0,
  host: '127.0.0.1',
  dataDir,
  logger: false,
  handleSignals: false,
  app: { rateLimit: false, notifications: false },
});
const api = async (method, path, key, body) => {
  const response = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
};
const { api_key: key } = await api('POST', '/agents', undefined, { name: 'conformance' });
const { repo } = await api('POST', '/repos', key, { name: 'conformance' });

const target = new URL(server.url);
const proxy = createServer((incoming, outgoing) => {
  const headers = { ...incoming.headers, authorization: `Bearer ${key}` };
  const forwarded = request(
    { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers },
    (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(outgoing);
    },
  );
  forwarded.on('error', () => outgoing.destroy());
  incoming.pipe(forwarded);
});
await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const port = proxy.address().port;
const url = `http://localhost:${port}/mcp?repo=${repo.id}`;
console.error(`mcp-conformance: ${url} (agent conformance, repository ${repo.id})`);

const bin = join(root, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const child = spawn(process.execPath, [bin, 'server', '--url', url, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
proxy.closeAllConnections();
proxy.close();
await server.close();
rmSync(dataDir, { recursive: true, force: true });
process.exit(code);
