/**
 * Error hints over HTTP speak HTTP: a core error's CLI hint ("Act as it with --as maya", "gitswarm
 * consensus …") never reaches an API client; it sees the error's HTTP hint, its code's, or none.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, type ErrorCode, GitSwarmError } from '../../src/errors.js';
import { httpHintOf, speaksCli } from '../../src/server/http-hints.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { callApi, createTestRepo, registerTestAgent, startTestApp, type TestApp } from './helpers.js';

describe('httpHintOf', () => {
  it('never gives a catalogue code a hint that names a CLI command or flag', () => {
    const cli: string[] = [];
    for (const code of Object.keys(ERROR_CATALOGUE) as ErrorCode[]) {
      const hint = httpHintOf(new GitSwarmError(code, 'x'));
      if (hint && speaksCli(hint)) cli.push(`${code}: ${hint}`);
    }
    expect(cli).toEqual([]);
    // The check itself: these are CLI hints.
    expect(speaksCli('Act as it with --as maya, or choose another name.')).toBe(true);
    expect(speaksCli('See the numbers with: gitswarm consensus abc')).toBe(true);
    expect(speaksCli('Send Authorization: Bearer <api key>.')).toBe(false);
  });

  it('prefers the error’s HTTP hint, keeps a hint that is not CLI, else uses the code’s', () => {
    expect(httpHintOf(new GitSwarmError('already_exists', 'x', { hint: 'use --as a', httpHint: 'h' }))).toBe(
      'h',
    );
    expect(httpHintOf(new GitSwarmError('conflict', 'x', { hint: 'Merge buffer into it.' }))).toBe(
      'Merge buffer into it.',
    );
    expect(httpHintOf(new GitSwarmError('no_consensus', 'x', { hint: 'Run: gitswarm consensus s1' }))).toBe(
      'See the numbers with: GET /api/v1/streams/:id/consensus',
    );
    expect(httpHintOf(new GitSwarmError('already_exists', 'x', { hint: 'Run: gitswarm council show' }))).toBe(
      undefined,
    );
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: error hints over HTTP`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(dialect);
    });
    afterAll(async () => {
      await t.close();
    });

    it('a taken agent name says to choose another, not to use --as', async () => {
      const name = `maya-${randomBytes(3).toString('hex')}`;
      await registerTestAgent(t.app, name);
      const taken = await callApi(t.app, null, { method: 'POST', url: '/agents', payload: { name } });
      expect(taken.status).toBe(409);
      expect(taken.body.error.code).toBe('already_exists');
      expect(taken.body.error.hint).toMatch(/^Choose another name/);
      expect(taken.body.error.hint).not.toContain('--as');
    });

    it('a write without a key and a merge without consensus name HTTP requests', async () => {
      const anonymous = await callApi(t.app, null, { method: 'POST', url: '/repos', payload: { name: 'r' } });
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.error.hint).toContain('Authorization: Bearer');
      expect(anonymous.body.error.hint).not.toMatch(/--api-key|GITSWARM_/);

      const owner = await registerTestAgent(t.app);
      const author = await registerTestAgent(t.app);
      const repo = await createTestRepo(t.app, owner);
      const stream = (
        await callApi(t.app, author, {
          method: 'POST',
          url: `/repos/${repo.id}/streams`,
          payload: { name: 's' },
        })
      ).body.stream;
      await callApi(t.app, author, {
        method: 'POST',
        url: `/streams/${stream.id}/commits`,
        payload: { commit: randomBytes(20).toString('hex') },
      });
      const refused = await callApi(t.app, author, { method: 'POST', url: `/streams/${stream.id}/merge` });
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('no_consensus');
      expect(refused.body.error.hint).toBe('See the numbers with: GET /api/v1/streams/:id/consensus');

      const unknown = await callApi(t.app, author, { method: 'GET', url: '/agents/nobody-here' });
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.hint ?? '').not.toContain('gitswarm ');
    });
  });
}
