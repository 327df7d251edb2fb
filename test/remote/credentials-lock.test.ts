/**
 * The credentials file under concurrent writers: separate processes (the built module, as two
 * `gitswarm agent register` on one machine run it) saving keys at once lose none, since each
 * read-modify-write holds the lock file; the file stays 0600, no lock or temporary file is left;
 * a lock left by a process that died is taken over once stale.
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  credentialsPath,
  readCredentials,
  STALE_LOCK_MS,
  saveStoredKey,
} from '../../src/remote/credentials.js';
import { ROOT, requireFreshBuild } from '../helpers/built.js';

const MODULE = pathToFileURL(join(ROOT, 'dist', 'src', 'remote', 'credentials.js')).href;
const SERVER = 'http://127.0.0.1:3000';

/** A writer process: saves `count` keys of its own agents, one read-modify-write each. */
function writer(env: NodeJS.ProcessEnv, name: string, count: number): Promise<void> {
  const script = `
    const m = await import(${JSON.stringify(MODULE)});
    const [name, count] = process.argv.slice(1);
    for (let i = 0; i < Number(count); i++) {
      m.saveStoredKey(process.env, ${JSON.stringify(SERVER)}, { agent_id: name + '-' + i, agent_name: name + '-' + i, api_key: 'key-' + name + '-' + i });
    }`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script, name, String(count)],
      { env },
      (error, _o, stderr) => (error ? reject(new Error(`${name}: ${stderr || error.message}`)) : resolve()),
    );
  });
}

describe('credentials file: concurrent writers', () => {
  let home: string | undefined;
  afterEach(() => {
    if (home) rmSync(home, { recursive: true, force: true });
    home = undefined;
  });

  it('six processes saving 25 keys each at once: all 150 kept, 0600, nothing left behind', async () => {
    requireFreshBuild();
    home = mkdtempSync(join(tmpdir(), 'gitswarm-creds-'));
    const env = { ...process.env, XDG_CONFIG_HOME: home };
    await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((name) => writer(env, name, 25)));
    const saved = readCredentials(env).servers[SERVER]?.agents ?? [];
    expect(saved).toHaveLength(150);
    expect(new Set(saved.map((k) => k.api_key)).size).toBe(150);
    const file = credentialsPath(env);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(home, 'gitswarm'))).toEqual(['credentials.json']);
  });

  it('a lock left by a dead process is taken over once stale', () => {
    home = mkdtempSync(join(tmpdir(), 'gitswarm-creds-'));
    const env = { XDG_CONFIG_HOME: home };
    const file = credentialsPath(env);
    mkdirSync(join(home, 'gitswarm'), { recursive: true });
    writeFileSync(`${file}.lock`, '999999\n');
    const old = (Date.now() - STALE_LOCK_MS - 5_000) / 1000;
    utimesSync(`${file}.lock`, old, old);
    saveStoredKey(env, SERVER, { agent_id: 'x', agent_name: 'x', api_key: 'kx' });
    expect(readCredentials(env).servers[SERVER]?.agents.map((k) => k.agent_id)).toEqual(['x']);
    expect(existsSync(`${file}.lock`)).toBe(false);
  });
});
