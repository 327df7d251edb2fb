/**
 * The HTTP server turns V8's allocation-site pretenuring off (src/server/gc-tuning.ts). Each child
 * process here runs with V8's GC and pretenuring traces: after its set-up, a full collection marks
 * the trace, then objects of one site outlive young collections, which is what gets a site
 * pretenured. V8 weighs the site (a pretenuring line after the mark) only while pretenuring is on.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, requireFreshBuild } from '../helpers/built.js';

const built = (path: string) => pathToFileURL(join(ROOT, 'dist', 'src', path)).href;

/** A full collection (the mark), then objects of one site that outlive young collections. */
const SURVIVING_OBJECTS = `
globalThis.gc();
function makeBox() { return { rows: null, n: 0 }; }
const kept = [];
for (let round = 0; round < 3; round++) {
  for (let i = 0; i < 5000; i++) kept.push(makeBox());
  globalThis.gc({ type: 'minor' });
}
`;

/** The pretenuring lines a child prints after `setup`, from the mark on. */
function pretenuringDecisions(setup: string): string[] {
  const output = execFileSync(
    process.execPath,
    [
      '--expose-gc',
      '--trace-gc',
      '--trace-pretenuring-statistics',
      '--input-type=module',
      '-e',
      `${setup}\n${SURVIVING_OBJECTS}`,
    ],
    { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
  );
  // Both traces go to one stream, in order; the workload's own collections are young ones.
  const lines = output.split('\n');
  const mark = lines.findLastIndex((line) => line.includes('Mark-Compact') && line.includes('testing'));
  expect(mark).toBeGreaterThan(-1);
  return lines.slice(mark).filter((line) => line.includes('pretenuring: AllocationSite'));
}

let dataDir: string;
beforeAll(() => {
  requireFreshBuild();
  dataDir = mkdtempSync(join(tmpdir(), 'gitswarm-gc-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('the server and V8 pretenuring', () => {
  it('a plain process weighs the site for pretenuring', () => {
    expect(pretenuringDecisions('').length).toBeGreaterThan(0);
  });

  it('tuneGarbageCollection turns it off', () => {
    const setup = `const { tuneGarbageCollection } = await import(${JSON.stringify(built('server/gc-tuning.js'))});
tuneGarbageCollection();`;
    expect(pretenuringDecisions(setup)).toEqual([]);
  });

  it('startServer turns it off for the server process', () => {
    const setup = `const { startServer } = await import(${JSON.stringify(built('server/serve.js'))});
const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: ${JSON.stringify(dataDir)}, handleSignals: false, logger: false });
const answer = await fetch(server.url + '/healthz');
if (answer.status !== 200) throw new Error('healthz answered ' + answer.status);
await server.close();`;
    expect(pretenuringDecisions(setup)).toEqual([]);
  });
});
