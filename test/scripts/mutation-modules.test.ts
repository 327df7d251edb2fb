/**
 * Every file the mutation modules name exists (each glob matches a file), and every module is in the run order: a path left
 * behind by a move or a typo would otherwise drop its tests from the mutation run without a word.
 */
import { globSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without declarations
import { MODULE_ORDER, MODULES } from '../../scripts/mutation-modules.mjs';

const root = join(import.meta.dirname, '../..');
const modules = Object.entries(
  MODULES as Record<string, { mutate: string[]; tests: string[]; typeContext?: string[] }>,
);

describe('the mutation modules', () => {
  it.each(modules)('%s names only files that exist', (_name, module) => {
    // `mutate` may hold globs (Stryker's own syntax): each must match at least one file.
    const named = [...module.mutate, ...module.tests, ...(module.typeContext ?? [])];
    expect(named.filter((pattern) => globSync(pattern, { cwd: root }).length === 0)).toEqual([]);
  });

  it('runs every module once in the full run', () => {
    expect([...(MODULE_ORDER as string[])].sort()).toEqual(modules.map(([name]) => name).sort());
  });
});
