/**
 * git's auto maintenance after a stabilization (maintenance.ts), on real repositories: past
 * `gc.auto` it packs the loose objects; below it, or with `gc.auto = 0`, it leaves them; the
 * repository's pre-auto-gc hook never runs; a failure is an answer, not an exception.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAutoMaintenance } from '../../src/engine/maintenance.js';
import { blobsStartingWith, makeRepo, type TestRepo } from '../helpers/git-fixture.js';

// git estimates the loose objects from one folder, objects/17, and runs gc when it holds more than
// gc.auto / 256 of them: 4 here. Besides the blobs a test writes there, at most its two commits
// (their ids depend on the time) can land in it.
const GC_AUTO = '1024';

let repo: TestRepo;
beforeEach(async () => {
  repo = await makeRepo();
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
const packed = async () => Number(/^in-pack: (\d+)$/m.exec(await repo.run(['count-objects', '-v']))?.[1]);

describe('auto maintenance', () => {
  it('past gc.auto packs the loose objects, and never runs the repository’s pre-auto-gc hook', async () => {
    await repo.run(['config', 'gc.auto', GC_AUTO]);
    await commitObjectsIn17(6);
    const marker = repo.tempPath('hook-ran');
    writeFileSync(join(repo.dir, '.git', 'hooks', 'pre-auto-gc'), `#!/bin/sh\ntouch '${marker}'\n`, {
      mode: 0o755,
    });
    expect(looseIn17()).toBeGreaterThanOrEqual(6);
    expect(await packed()).toBe(0);

    expect(await runAutoMaintenance(repo.dir)).toBe(true);

    expect(looseIn17()).toBe(0);
    expect(await packed()).toBeGreaterThanOrEqual(6);
    expect(existsSync(marker)).toBe(false);
    expect(await repo.run(['fsck', '--no-progress'])).toBe('');
    // The hook would have run under git's own auto maintenance: the check above can fail.
    await commitObjectsIn17(6);
    await repo.run(['-c', 'gc.autoDetach=false', 'maintenance', 'run', '--auto', '--quiet']);
    expect(existsSync(marker)).toBe(true);
  });

  it('below gc.auto, or with gc.auto = 0, leaves the loose objects alone', async () => {
    await repo.run(['config', 'gc.auto', GC_AUTO]);
    await commitObjectsIn17(2);
    expect(await runAutoMaintenance(repo.dir)).toBe(true);
    expect(await packed()).toBe(0);

    await repo.run(['config', 'gc.auto', '0']);
    await commitObjectsIn17(6);
    expect(await runAutoMaintenance(repo.dir)).toBe(true);
    expect(await packed()).toBe(0);
    expect(looseIn17()).toBeGreaterThanOrEqual(6);
  });

  it('resolves false where it cannot run, instead of throwing', async () => {
    const notARepository = mkdtempSync(join(tmpdir(), 'gitswarm-no-repo-'));
    try {
      expect(await runAutoMaintenance(notARepository)).toBe(false);
      expect(await runAutoMaintenance(join(notARepository, 'missing'))).toBe(false);
    } finally {
      rmSync(notARepository, { recursive: true, force: true });
    }
  });
});
