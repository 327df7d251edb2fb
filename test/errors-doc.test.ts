/**
 * Keeps docs/errors.md honest: it lists every code of the catalogue in src/errors.ts, no other,
 * each with the catalogue's exit code and HTTP status.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../src/errors.js';

interface DocumentedError {
  exit: number;
  status: number;
}

function readDocumentedErrors(): Map<string, DocumentedError> {
  const text = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, DocumentedError>();
  for (const line of text.split('\n')) {
    const match = /^\| `([a-z_]+)` +\| (\d) +\| (\d{3}) +\|/.exec(line);
    if (match) rows.set(match[1]!, { exit: Number(match[2]), status: Number(match[3]) });
  }
  return rows;
}

describe('docs/errors.md', () => {
  const documented = readDocumentedErrors();
  const catalogue = ERROR_CATALOGUE as Record<string, { exit: number; status: number }>;

  it('documents every code of the catalogue', () => {
    const missing = Object.keys(catalogue).filter((code) => !documented.has(code));
    expect(missing).toEqual([]);
  });

  it('documents no code that is not in the catalogue', () => {
    const unknown = [...documented.keys()].filter((code) => !Object.hasOwn(catalogue, code));
    expect(unknown).toEqual([]);
  });

  it('gives each code the exit code and HTTP status of the catalogue', () => {
    const wrong = [...documented]
      .filter(([code]) => Object.hasOwn(catalogue, code))
      .filter(([code, doc]) => doc.exit !== catalogue[code]!.exit || doc.status !== catalogue[code]!.status)
      .map(([code]) => code);
    expect(wrong).toEqual([]);
  });
});
