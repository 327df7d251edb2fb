/**
 * Where a checkout's store lives. `.gitswarm/config.json` sits in the checkout, so it may name a
 * store only inside `.gitswarm/`: a config pointing anywhere else is refused before anything is
 * created; a store elsewhere comes from the environment. Also: what `init` adds to the excludes.
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { recordableDatabase, resolveStoreLocation } from '../../src/cli/config-file.js';
import { createTempDir, createTestRepo, type TestRepo } from './helpers.js';

let repo: TestRepo | undefined;
let elsewhere: { dir: string; close: () => void } | undefined;
afterEach(() => {
  repo?.close();
  elsewhere?.close();
  repo = undefined;
  elsewhere = undefined;
});

function setConfigDatabase(root: string, database: string): void {
  const file = join(root, '.gitswarm', 'config.json');
  const config = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(file, JSON.stringify({ ...config, database }));
}

describe('the store a config may name', () => {
  it('refuses "../../outside.db": exit 2, a clear error, and no file created', async () => {
    repo = createTestRepo({ inProcess: true });
    expect((await repo.run(['init'])).code).toBe(0);
    setConfigDatabase(repo.dir, '../../outside.db');
    const outside = join(repo.dir, '..', '..', 'outside.db');
    expect(existsSync(outside)).toBe(false);

    const text = await repo.run(['status']);
    expect(text.code).toBe(2);
    expect(text.stderr).toContain('names the store "../../outside.db", which is not inside');
    expect(text.stderr).toContain('hint: A store outside .gitswarm/ must be named by the environment');
    const json = await repo.run(['status', '--json']);
    expect(json.code).toBe(2);
    expect(json.json<{ error: { code: string; database: string } }>().error).toMatchObject({
      code: 'invalid_input',
      database: '../../outside.db',
    });
    expect(existsSync(outside)).toBe(false);
  });

  it('refuses an absolute path elsewhere and a symlink out of .gitswarm/, creating nothing', async () => {
    repo = createTestRepo({ inProcess: true });
    elsewhere = createTempDir();
    expect((await repo.run(['init'])).code).toBe(0);
    const target = join(elsewhere.dir, 'store.db');
    setConfigDatabase(repo.dir, target);
    expect((await repo.run(['status'])).code).toBe(2);
    expect(existsSync(target)).toBe(false);

    // A link inside .gitswarm/ that leads out: a directory, then the file itself.
    symlinkSync(elsewhere.dir, join(repo.dir, '.gitswarm', 'out'));
    setConfigDatabase(repo.dir, '.gitswarm/out/store.db');
    expect((await repo.run(['status'])).code).toBe(2);
    symlinkSync(target, join(repo.dir, '.gitswarm', 'link.db'));
    setConfigDatabase(repo.dir, '.gitswarm/link.db');
    expect((await repo.run(['status'])).code).toBe(2);
    expect(existsSync(target)).toBe(false);
  });

  it('takes a store elsewhere from GITSWARM_DB, and init does not record it in the config', async () => {
    repo = createTestRepo({ inProcess: true });
    elsewhere = createTempDir();
    const env = { GITSWARM_DB: join(elsewhere.dir, 'store.db') };
    expect((await repo.run(['init'], { env })).code).toBe(0);
    expect(existsSync(env.GITSWARM_DB)).toBe(true);
    const config = JSON.parse(readFileSync(join(repo.dir, '.gitswarm', 'config.json'), 'utf8'));
    expect(config.database).toBeUndefined();
    const status = await repo.run(['status', '--json'], { env });
    expect(status.code).toBe(0);
  });

  it('accepts a file inside .gitswarm/ and PostgreSQL URLs', async () => {
    repo = createTestRepo({ inProcess: true });
    expect((await repo.run(['init'])).code).toBe(0);
    const root = repo.dir;
    expect(resolveStoreLocation(root, { repo_id: 'r', database: '.gitswarm/other.db' }, {})).toBe(
      join(root, '.gitswarm', 'other.db'),
    );
    expect(resolveStoreLocation(root, { repo_id: 'r', database: 'postgres://h/db' }, {})).toBe(
      'postgres://h/db',
    );
    expect(recordableDatabase(root, '.gitswarm/other.db')).toBe('.gitswarm/other.db');
    expect(recordableDatabase(root, 'postgres://h/db?schema=s')).toBe('postgres://h/db?schema=s');
    expect(recordableDatabase(root, '/var/tmp/x.db')).toBeUndefined();
    expect(recordableDatabase(root, 'data/x.db')).toBeUndefined();
    // The environment may name any file; relative paths are relative to the repository root.
    expect(resolveStoreLocation(root, null, { GITSWARM_DB: 'data/x.db' })).toBe(join(root, 'data', 'x.db'));
    expect(
      resolveStoreLocation(root, { repo_id: 'r', database: '../x.db' }, { GITSWARM_DB: '/var/tmp/x.db' }),
    ).toBe('/var/tmp/x.db');
    expect(() => resolveStoreLocation(root, { repo_id: 'r', database: '.gitswarm' }, {})).toThrow(
      /not inside/,
    );
  });
});

describe('init excludes', () => {
  it('adds .gitswarm/, .worktrees/ and .gitswarm-server/ to .git/info/exclude', async () => {
    repo = createTestRepo({ inProcess: true });
    expect((await repo.run(['init'])).code).toBe(0);
    const exclude = readFileSync(join(repo.dir, '.git', 'info', 'exclude'), 'utf8');
    for (const entry of ['/.gitswarm/', '/.worktrees/', '/.gitswarm-server/']) {
      expect(exclude.split('\n')).toContain(entry);
    }
    mkdirSync(join(repo.dir, '.gitswarm-server'));
    writeFileSync(join(repo.dir, '.gitswarm-server', 'gitswarm.db'), '');
    expect(repo.git(['status', '--porcelain'])).toBe('');
  });
});
