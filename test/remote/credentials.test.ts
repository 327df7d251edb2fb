/**
 * The credentials file: where it is, its modes (0600 in a 0700 folder), atomic replacement,
 * lookup by agent id or name per server, and the refusal to write it inside a repository.
 */
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitSwarmError } from '../../src/errors.js';
import {
  credentialsPath,
  findStoredKey,
  readCredentials,
  saveStoredKey,
  storedKeys,
} from '../../src/remote/credentials.js';

describe('credentials file', () => {
  let dir: string;
  beforeEach(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-creds-')));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('lives under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(credentialsPath({ XDG_CONFIG_HOME: '/x/conf', HOME: '/home/u' })).toBe(
      '/x/conf/gitswarm/credentials.json',
    );
    expect(credentialsPath({ HOME: '/home/u' })).toBe('/home/u/.config/gitswarm/credentials.json');
    // A relative XDG_CONFIG_HOME is invalid by the XDG spec and ignored.
    expect(credentialsPath({ XDG_CONFIG_HOME: 'rel', HOME: '/home/u' })).toBe(
      '/home/u/.config/gitswarm/credentials.json',
    );
  });

  it('saves keys 0600 in a 0700 folder, per server, replacing an agent’s older key', () => {
    const env = { XDG_CONFIG_HOME: join(dir, 'conf') };
    mkdirSync(join(dir, 'conf', 'gitswarm'), { recursive: true, mode: 0o755 });
    chmodSync(join(dir, 'conf', 'gitswarm'), 0o755);
    const file = saveStoredKey(env, 'http://a:1', {
      agent_id: 'id-1',
      agent_name: 'Alice',
      api_key: 'gs_one',
    });
    saveStoredKey(env, 'http://b:2', { agent_id: 'id-9', agent_name: 'alice', api_key: 'gs_other' });
    saveStoredKey(env, 'http://a:1', { agent_id: 'id-1', agent_name: 'Alice', api_key: 'gs_two' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'conf', 'gitswarm')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dir, 'conf', 'gitswarm'))).toEqual(['credentials.json']);
    expect(storedKeys(env, 'http://a:1').map((k) => k.api_key)).toEqual(['gs_two']);
    expect(findStoredKey(env, 'http://a:1', 'ALICE')?.api_key).toBe('gs_two');
    expect(findStoredKey(env, 'http://a:1', 'id-1')?.api_key).toBe('gs_two');
    expect(findStoredKey(env, 'http://b:2', 'alice')?.api_key).toBe('gs_other');
    expect(findStoredKey(env, 'http://c:3', 'alice')).toBeUndefined();
  });

  it('refuses to write inside a repository, and says so for a broken file', () => {
    const env = { XDG_CONFIG_HOME: join(dir, 'repo', '.config') };
    expect(() =>
      saveStoredKey(
        env,
        'http://a:1',
        { agent_id: 'i', agent_name: 'n', api_key: 'k' },
        { notInside: join(dir, 'repo') },
      ),
    ).toThrow(/inside the repository/);
    const broken = { XDG_CONFIG_HOME: join(dir, 'broken') };
    mkdirSync(join(dir, 'broken', 'gitswarm'), { recursive: true });
    writeFileSync(credentialsPath(broken), '{not json');
    const error = (() => {
      try {
        readCredentials(broken);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(GitSwarmError);
    expect((error as GitSwarmError).code).toBe('invalid_input');
  });

  it('skips malformed entries, and replaces an agent’s key by id or by name only', () => {
    const env = { XDG_CONFIG_HOME: join(dir, 'mixed') };
    mkdirSync(join(dir, 'mixed', 'gitswarm'), { recursive: true });
    writeFileSync(
      credentialsPath(env),
      JSON.stringify({
        version: 1,
        servers: {
          'http://a:1': {
            agents: [
              { agent_id: 'ok', agent_name: 'ok', api_key: 'gs_ok' },
              { agent_id: 'no-key', agent_name: 'no-key' },
              { agent_name: 'no-id', api_key: 'gs_x' },
              { agent_id: 'no-name', api_key: 'gs_y' },
              null,
            ],
          },
          'http://b:2': { agents: 'not a list' },
          'http://c:3': null,
        },
      }),
    );
    expect(storedKeys(env, 'http://a:1').map((k) => k.agent_id)).toEqual(['ok']);
    expect(storedKeys(env, 'http://b:2')).toEqual([]);
    expect(storedKeys(env, 'http://c:3')).toEqual([]);
    // Same id, new name (renamed): replaced. Same name, other id: replaced. Others stay.
    saveStoredKey(env, 'http://a:1', { agent_id: 'other', agent_name: 'other', api_key: 'gs_other' });
    saveStoredKey(env, 'http://a:1', { agent_id: 'ok', agent_name: 'renamed', api_key: 'gs_1' });
    expect(storedKeys(env, 'http://a:1').map((k) => [k.agent_id, k.agent_name, k.api_key])).toEqual([
      ['other', 'other', 'gs_other'],
      ['ok', 'renamed', 'gs_1'],
    ]);
    saveStoredKey(env, 'http://a:1', { agent_id: 'new-id', agent_name: 'RENAMED', api_key: 'gs_2' });
    expect(storedKeys(env, 'http://a:1').map((k) => [k.agent_id, k.api_key])).toEqual([
      ['other', 'gs_other'],
      ['new-id', 'gs_2'],
    ]);
    const saved = readCredentials(env).servers['http://a:1']?.agents.at(-1);
    expect(saved?.saved_at).toMatch(/^\d{4}-\d{2}-\d{2}T/);
  });

  it('writes beside a repository but not inside it', () => {
    const repo = join(dir, 'repo');
    const beside = { XDG_CONFIG_HOME: join(dir, 'repo-config') };
    expect(
      saveStoredKey(
        beside,
        'http://a:1',
        { agent_id: 'i', agent_name: 'n', api_key: 'k' },
        { notInside: repo },
      ),
    ).toBe(join(dir, 'repo-config', 'gitswarm', 'credentials.json'));
    expect(() =>
      saveStoredKey(
        { XDG_CONFIG_HOME: repo },
        'http://a:1',
        { agent_id: 'i', agent_name: 'n', api_key: 'k' },
        {
          notInside: repo,
        },
      ),
    ).toThrow(
      expect.objectContaining({ code: 'invalid_input', hint: expect.stringContaining('XDG_CONFIG_HOME') }),
    );
  });
});
