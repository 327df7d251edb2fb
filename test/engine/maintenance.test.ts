/**
 * git's auto maintenance after a stabilization (maintenance.ts): on real repositories, past git's
 * default thresholds (loose objects, packs) it packs, without a repository hook, and honours
 * `gc.auto = 0`; counted as git counts, below the thresholds no git process starts; a failure is an
 * answer, not an exception.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gitOut } from '../../src/engine/git.js';
import { runAutoMaintenance } from '../../src/engine/maintenance.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { blobsStartingWith, makeRepo, type TestRepo } from '../helpers/git-fixture.js';

// git estimates the loose objects from one folder, objects/17, and with its default gc.auto (6,700)
// packs when it holds more than 27.
const PAST_DEFAULT = 28;

let repo: TestRepo;
let location: { root: string; commonDir: string };
beforeEach(async () => {
  repo = await makeRepo();
  location = { root: repo.dir, commonDir: join(repo.dir, '.git') };
});
afterEach(() => repo.cleanup());

let batch = 0;
/** Commits files whose blobs go to objects/17 (reachable, so a gc packs them rather than keeping them loose). */
async function commitObjectsIn17(count: number): Promise<void> {
  const blobs = blobsStartingWith('17', count, ++batch);
  await repo.commitOn(
    'main',
    Object.fromEntries(blobs.map(({ content }, i) => [`f${batch}-${i}.txt`, content])),
  );
}

const looseIn17 = () => {
  const folder = join(repo.dir, '.git', 'objects', '17');
  return existsSync(folder) ? readdirSync(folder).length : 0;
};
const packs = () =>
  readdirSync(join(repo.dir, '.git', 'objects', 'pack')).filter((name) => name.endsWith('.pack'));

/** `count` packs of one new blob each. */
async function writePacks(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const blob = await gitOut(['hash-object', '-w', '--stdin'], {
      cwd: repo.dir,
      input: `pack ${batch}.${i}\n`,
    });
    await gitOut(['pack-objects', '-q', join('.git', 'objects', 'pack', 'pack')], {
      cwd: repo.dir,
      input: `${blob}\n`,
    });
  }
  batch++;
}

/** Runs maintenance with a recorder of git processes first on PATH; resolves its answer and the calls. */
async function maintainRecorded(at = location): Promise<{ ran: boolean; calls: string[] }> {
  const recorder = recordGitCalls();
  const ran = await withCommandEnv(recorder.env, () => runAutoMaintenance(at));
  return { ran, calls: recorder.calls() };
}

describe('auto maintenance', () => {
  it('past git’s default loose-object threshold packs them, and never runs the repository’s pre-auto-gc hook', async () => {
    await commitObjectsIn17(PAST_DEFAULT);
    const marker = repo.tempPath('hook-ran');
    writeFileSync(join(repo.dir, '.git', 'hooks', 'pre-auto-gc'), `#!/bin/sh\ntouch '${marker}'\n`, {
      mode: 0o755,
    });
    expect(looseIn17()).toBeGreaterThanOrEqual(PAST_DEFAULT);
    expect(packs()).toEqual([]);

    expect(await runAutoMaintenance(location)).toBe(true);

    expect(looseIn17()).toBe(0);
    expect(packs()).toHaveLength(1);
    expect(existsSync(marker)).toBe(false);
    expect(await repo.run(['fsck', '--no-progress'])).toBe('');
    // The hook would have run under git's own auto maintenance: the check above can fail.
    await commitObjectsIn17(PAST_DEFAULT);
    await repo.run(['-c', 'gc.autoDetach=false', 'maintenance', 'run', '--auto', '--quiet']);
    expect(existsSync(marker)).toBe(true);
  });

  it('below the thresholds starts no git process; with gc.auto = 0 git is asked and packs nothing', async () => {
    await commitObjectsIn17(PAST_DEFAULT - 1 - 2); // and at most its two commits (ids by the time)
    expect(await maintainRecorded()).toEqual({ ran: false, calls: [] });

    await repo.run(['config', 'gc.auto', '0']);
    await commitObjectsIn17(PAST_DEFAULT);
    const { ran, calls } = await maintainRecorded();
    expect(ran).toBe(true);
    expect(calls).toHaveLength(1);
    expect(packs()).toEqual([]);
    expect(looseIn17()).toBeGreaterThanOrEqual(PAST_DEFAULT);
  });

  it('past 50 packs, not counting kept ones, consolidates them', async () => {
    await writePacks(51);
    const [kept] = packs();
    writeFileSync(
      join(repo.dir, '.git', 'objects', 'pack', (kept as string).replace(/\.pack$/, '.keep')),
      '',
    );
    expect(await maintainRecorded()).toEqual({ ran: false, calls: [] });

    await writePacks(1);
    expect(await runAutoMaintenance(location)).toBe(true);
    // The kept pack stays; the others are one now.
    expect(packs()).toHaveLength(2);
    expect(packs()).toContain(kept);
  });

  it('counts as git does: loose objects in objects/17 past 27, packs without a .keep past 50; else no git', async () => {
    const notARepository = mkdtempSync(join(tmpdir(), 'gitswarm-no-repo-'));
    const objects = join(notARepository, 'objects');
    const at = { root: notARepository, commonDir: notARepository };
    try {
      mkdirSync(join(objects, '17'), { recursive: true });
      mkdirSync(join(objects, 'pack'));
      const ids = blobsStartingWith('17', PAST_DEFAULT).map((blob) => blob.id);
      for (const id of ids.slice(1)) writeFileSync(join(objects, '17', id.slice(2)), '');
      // Not objects: a temporary file, a name too short or not hexadecimal.
      writeFileSync(join(objects, '17', 'tmp_obj_abcdef'), '');
      writeFileSync(join(objects, '17', (ids[0] as string).slice(3)), '');
      writeFileSync(join(objects, '17', `${(ids[0] as string).slice(2, -1)}g`), '');
      for (let i = 0; i < 51; i++) writeFileSync(join(objects, 'pack', `pack-${i}.pack`), '');
      writeFileSync(join(objects, 'pack', 'pack-0.keep'), '');
      writeFileSync(join(objects, 'pack', 'pack-0.idx'), '');
      expect(await maintainRecorded(at)).toEqual({ ran: false, calls: [] });

      // One loose object more, or one pack more: git is asked, and fails here (no repository).
      writeFileSync(join(objects, '17', (ids[0] as string).slice(2)), '');
      expect(await maintainRecorded(at)).toEqual({
        ran: false,
        calls: [expect.stringContaining('maintenance')],
      });
      rmSync(join(objects, '17'), { recursive: true });
      expect(await maintainRecorded(at)).toEqual({ ran: false, calls: [] });
      writeFileSync(join(objects, 'pack', 'pack-51.pack'), '');
      expect(await maintainRecorded(at)).toEqual({
        ran: false,
        calls: [expect.stringContaining('maintenance')],
      });
      expect(await runAutoMaintenance({ ...at, root: join(notARepository, 'missing') })).toBe(false);
    } finally {
      rmSync(notARepository, { recursive: true, force: true });
    }
  });
});
