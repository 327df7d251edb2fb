import { describe, expect, it } from 'vitest';
import { parseTimestamptz } from '../../src/store/postgres-dialect.js';

describe('parseTimestamptz', () => {
  it('prints what Date#toISOString prints, for every fraction PostgreSQL may send', () => {
    const cases: [string, string][] = [
      ['2026-11-24 16:46:54+00', '2026-11-24T16:46:54.000Z'],
      ['2026-11-24 16:46:54.1+00', '2026-11-24T16:46:54.100Z'],
      ['2026-11-24 16:46:54.12+00', '2026-11-24T16:46:54.120Z'],
      ['2026-11-24 16:46:54.123+00', '2026-11-24T16:46:54.123Z'],
      ['2026-11-24 16:46:54.123999+00', '2026-11-24T16:46:54.123Z'],
      // Another session time zone takes the Date path.
      ['2026-11-24 17:46:54.5+01', '2026-11-24T16:46:54.500Z'],
      ['2026-11-24 11:16:54.5-05:30', '2026-11-24T16:46:54.500Z'],
    ];
    for (const [text, iso] of cases) expect(parseTimestamptz(text), text).toBe(iso);
  });
});
