/**
 * The stabilize run's settings kept in the repository's metadata: defaults, validation, updates
 * that keep each other, and a real stabilization that uses them (setup command, its failure).
 */
import { describe, expect, it } from 'vitest';
import { REPO_SETTINGS, repoSetting, stabilizeRunSettings } from '../../../src/core/repos/repo-settings.js';
import { getRepo, updateRepoSettings } from '../../../src/core/repos/repos.js';
import { stabilize } from '../../../src/core/stabilization/stabilization.js';
import { DEFAULT_DEPENDENCY_DIRS } from '../../../src/engine/sandbox-deps.js';
import { useGitStore } from '../../helpers/federation-fixture.js';
import { seedStabilizeRepo, swarmCommit } from '../../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import { seedAgent, testDeps } from '../../helpers/streams-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: stabilize run settings`, () => {
    const fx = useGitStore(dialect);

    it('defaults when unset: the dependency folders, 512 processes, no setup, no network', async () => {
      const deps = testDeps(fx.store);
      const seeded = fx.keep(await seedStabilizeRepo(deps));
      expect(stabilizeRunSettings(seeded.repo)).toEqual({
        timeoutMs: 600_000,
        memoryMb: seeded.repo.stabilize_memory_mb,
        maxProcesses: 512,
        dependencyDirs: [...DEFAULT_DEPENDENCY_DIRS],
        setupCommand: null,
        setupNetwork: false,
      });
      expect(DEFAULT_DEPENDENCY_DIRS).toEqual(['node_modules', '.venv', 'venv', 'vendor', 'target']);
    });

    it('stores them in metadata: a comma list or a JSON array, each change keeping the others', async () => {
      const deps = testDeps(fx.store);
      const seeded = fx.keep(
        await seedStabilizeRepo(deps, {
          stabilize_dependency_dirs: 'node_modules, .venv,frontend/node_modules/',
        }),
      );
      expect(repoSetting(seeded.repo, 'stabilize_dependency_dirs')).toEqual([
        'node_modules',
        '.venv',
        'frontend/node_modules',
      ]);
      await updateRepoSettings(deps, deps.store.db, {
        repo: seeded.repo,
        actor: null,
        changes: { stabilize_setup_command: 'npm run build', stabilize_max_processes: '64' },
      });
      await updateRepoSettings(deps, deps.store.db, {
        repo: seeded.repo, // read before the previous change: the update merges into the row as it is now
        actor: null,
        changes: { stabilize_setup_network: 'true', stabilize_dependency_dirs: '["vendor"]' },
      });
      const repo = await getRepo(deps.store.db, seeded.repo.id);
      expect(stabilizeRunSettings(repo)).toEqual({
        timeoutMs: 600_000,
        memoryMb: repo.stabilize_memory_mb,
        maxProcesses: 64,
        dependencyDirs: ['vendor'],
        setupCommand: 'npm run build',
        setupNetwork: true,
      });
      expect(repo.stabilize_command).toBe(seeded.repo.stabilize_command);
      await updateRepoSettings(deps, deps.store.db, {
        repo,
        actor: null,
        changes: { stabilize_dependency_dirs: '', stabilize_setup_command: '' },
      });
      const cleared = await getRepo(deps.store.db, seeded.repo.id);
      expect(repoSetting(cleared, 'stabilize_dependency_dirs')).toEqual([]);
      expect(repoSetting(cleared, 'stabilize_setup_command')).toBeNull();
    });

    it('rejects folders outside the checkout or inside .git/.gitswarm/.worktrees, and out-of-range numbers', async () => {
      const deps = testDeps(fx.store);
      const seeded = fx.keep(await seedStabilizeRepo(deps));
      for (const changes of [
        { stabilize_dependency_dirs: '../outside' },
        { stabilize_dependency_dirs: '/etc' },
        { stabilize_dependency_dirs: '.git' },
        { stabilize_dependency_dirs: 'a/.gitswarm' },
        { stabilize_dependency_dirs: '.worktrees/alice' },
        { stabilize_dependency_dirs: '["node_modules", 3]' },
        { stabilize_dependency_dirs: '[not json' },
        { stabilize_max_processes: '3' },
        { stabilize_setup_network: 'maybe' },
      ]) {
        await expect(
          updateRepoSettings(deps, deps.store.db, { repo: seeded.repo, actor: null, changes }),
          JSON.stringify(changes),
        ).rejects.toMatchObject({ code: 'invalid_input' });
      }
      expect(Object.keys(REPO_SETTINGS)).toEqual(
        expect.arrayContaining([
          'stabilize_dependency_dirs',
          'stabilize_setup_command',
          'stabilize_setup_network',
          'stabilize_max_processes',
        ]),
      );
    });

    it('a stabilization runs the setup command first; when it fails nothing is blamed and the run is an error', async () => {
      const deps = testDeps(fx.store);
      const seeded = fx.keep(
        await seedStabilizeRepo(deps, {
          stabilize_command: 'test -f built.txt && sh check.sh',
          stabilize_setup_command: 'echo ok > built.txt',
        }),
      );
      const alice = await seedAgent(deps, 'alice');
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      const green = await stabilize(deps, { repo: seeded.repo, actor: alice });
      expect(green.result).toBe('green');

      await updateRepoSettings(deps, deps.store.db, {
        repo: seeded.repo,
        actor: null,
        changes: { stabilize_setup_command: 'echo "no compiler" >&2; exit 2' },
      });
      const repo = await getRepo(deps.store.db, seeded.repo.id);
      const progress: string[] = [];
      const outcome = await stabilize(deps, {
        repo,
        actor: alice,
        progress: (line) => progress.push(line),
      }).then(
        (result) => result as unknown,
        (error: unknown) => error,
      );
      // Whatever shape stabilization.ts gives an error (a result or a thrown error), it is no red.
      const shape = outcome as { result?: string; message?: string };
      expect(shape.result === 'error' || /setup command failed/.test(shape.message ?? '')).toBe(true);
      expect(progress.join('\n')).toMatch(/run at \w+: error \(exit 2,/);
      expect(progress.join('\n')).toContain(
        'the setup command failed (exit 2): echo "no compiler" >&2; exit 2 — no compiler',
      );
      expect(progress.join('\n')).not.toMatch(/retry|bisect/);
    });
  });
}
