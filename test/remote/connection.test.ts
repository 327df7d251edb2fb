/**
 * Which server and which key a command uses: `--server` > GITSWARM_SERVER > the config's server;
 * `--api-key` > GITSWARM_API_KEY > the credentials file's key for the acting agent (on the URL
 * used, else on the config's); and the config file's `server` validation.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { normalizeServerUrl, readConfigFile } from '../../src/cli/config-file.js';
import { GitSwarmError } from '../../src/errors.js';
import { requireServerRepoId, resolveConnection, resolveServerUrl } from '../../src/remote/connection.js';
import { saveStoredKey } from '../../src/remote/credentials.js';

const CONFIGURED = { server: { url: 'http://config:1', repo_id: 'repo-1', remote: 'upstream' } };

describe('resolveConnection', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gitswarm-conn-'));
    env = { XDG_CONFIG_HOME: dir };
    saveStoredKey(env, 'http://config:1', { agent_id: 'a1', agent_name: 'alice', api_key: 'gs_config' });
    saveStoredKey(env, 'http://flag:2', { agent_id: 'a1', agent_name: 'alice', api_key: 'gs_flag_server' });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is Mode A without a server anywhere', () => {
    expect(resolveConnection({ flags: {}, env, config: { server: undefined } })).toBeUndefined();
    expect(resolveServerUrl({}, env, undefined)).toBeUndefined();
  });

  it('takes the server from the flag, else the environment, else the config', () => {
    expect(resolveServerUrl({}, env, CONFIGURED.server)).toBe('http://config:1');
    expect(resolveServerUrl({}, { ...env, GITSWARM_SERVER: 'http://env:3/' }, CONFIGURED.server)).toBe(
      'http://env:3',
    );
    expect(
      resolveServerUrl(
        { server: 'http://flag:2' },
        { ...env, GITSWARM_SERVER: 'http://env:3' },
        CONFIGURED.server,
      ),
    ).toBe('http://flag:2');
  });

  it('takes the key from the flag, else the environment, else the acting agent’s saved key', () => {
    const base = { env, config: CONFIGURED, agentRef: 'ALICE' };
    expect(resolveConnection({ ...base, flags: {} })).toMatchObject({
      url: 'http://config:1',
      repoId: 'repo-1',
      remote: 'upstream',
      apiKey: 'gs_config',
      keySource: 'credentials',
      configured: true,
    });
    expect(resolveConnection({ ...base, flags: { server: 'http://flag:2' } })?.apiKey).toBe('gs_flag_server');
    // The same server at another address: the key saved for the configured URL still serves.
    expect(resolveConnection({ ...base, flags: { server: 'http://other:4' } })?.apiKey).toBe('gs_config');
    expect(
      resolveConnection({ ...base, env: { ...env, GITSWARM_API_KEY: 'gs_env' }, flags: {} }),
    ).toMatchObject({ apiKey: 'gs_env', keySource: 'env' });
    expect(
      resolveConnection({
        ...base,
        env: { ...env, GITSWARM_API_KEY: 'gs_env' },
        flags: { apiKey: 'gs_cli' },
      }),
    ).toMatchObject({ apiKey: 'gs_cli', keySource: 'flag' });
    expect(resolveConnection({ ...base, agentRef: 'nobody', flags: {} })).toMatchObject({
      apiKey: undefined,
      keySource: undefined,
    });
    expect(resolveConnection({ env, config: CONFIGURED, flags: {} })?.apiKey).toBeUndefined();
  });

  it('an unconnected clone named a server by flag has no repository yet, and says what to do', () => {
    const connection = resolveConnection({ flags: { server: 'http://flag:2' }, env, config: null });
    expect(connection).toMatchObject({ repoId: undefined, remote: 'origin', configured: false });
    expect(() => requireServerRepoId(connection!)).toThrow(/not connected/);
    const configuredOnly = { url: 'http://config:1', repoId: undefined, configured: true };
    expect(() => requireServerRepoId(configuredOnly)).toThrow(
      expect.objectContaining({ code: 'not_initialized', hint: expect.stringContaining('agent register') }),
    );
    expect(requireServerRepoId({ ...configuredOnly, repoId: 'r' })).toBe('r');
  });
});

describe('the config file’s server', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'gitswarm-cfg-'));
    mkdirSync(join(root, '.gitswarm'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const write = (value: unknown) =>
    writeFileSync(
      join(root, '.gitswarm', 'config.json'),
      JSON.stringify({ repo_id: 'r', ...(value as object) }),
    );

  it('is read normalized, with origin as the default remote', () => {
    write({ server: { url: 'http://h:1/' } });
    expect(readConfigFile(root)?.server).toEqual({ url: 'http://h:1', remote: 'origin' });
  });

  it('refuses a server without a URL, a bad URL, a bad remote or repo id', () => {
    for (const server of [
      { remote: 'origin' },
      { url: 'ftp://h' },
      { url: 'http://h:1', remote: '-x' },
      { url: 'http://h:1', remote: 'a..b' },
      { url: 'http://h:1', repo_id: '' },
    ]) {
      write({ server });
      expect(() => readConfigFile(root), JSON.stringify(server)).toThrow(GitSwarmError);
    }
  });

  it('normalizes URLs and refuses credentials in them', () => {
    expect(normalizeServerUrl(' https://h:8443/prefix/ ')).toBe('https://h:8443/prefix');
    expect(() => normalizeServerUrl('http://h:1/?token=x')).toThrow(/no credentials, query or fragment/);
  });
});
