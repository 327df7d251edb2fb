import { describe, expect, it } from 'vitest';
import { identityEnv } from '../../src/engine/author.js';
import { isChangeId, newChangeId, readChangeId, withChangeId } from '../../src/engine/change-id.js';
import { isGitSwarmError } from '../../src/errors.js';

const ID = `I${'a'.repeat(40)}`;

describe('Change-Id', () => {
  it('makes well-formed, distinct ids', () => {
    const a = newChangeId();
    expect(a).toMatch(/^I[0-9a-f]{40}$/);
    expect(isChangeId(a)).toBe(true);
    expect(newChangeId()).not.toBe(a);
  });

  it('adds the trailer after a blank line, or joins an existing trailer block', () => {
    expect(withChangeId('Fix the parser', ID)).toBe(`Fix the parser\n\nChange-Id: ${ID}\n`);
    expect(withChangeId('Fix\n\nLonger body.\n\n', ID)).toBe(`Fix\n\nLonger body.\n\nChange-Id: ${ID}\n`);
    expect(withChangeId('Fix\n\nSigned-off-by: A <a@x>\n', ID)).toBe(
      `Fix\n\nSigned-off-by: A <a@x>\nChange-Id: ${ID}\n`,
    );
    // A subject that looks like a trailer is still a subject.
    expect(withChangeId('Docs: update', ID)).toBe(`Docs: update\n\nChange-Id: ${ID}\n`);
  });

  it('keeps an existing Change-Id and reads it back', () => {
    const message = withChangeId('Fix', ID);
    expect(withChangeId(message, newChangeId())).toBe(message);
    expect(readChangeId(message)).toBe(ID);
    expect(readChangeId('Change-Id: not-on-the-subject')).toBeNull();
    expect(readChangeId(`Change-Id: ${ID}`)).toBeNull();
    expect(readChangeId('Fix\n\nno trailer')).toBeNull();
  });
});

describe('identityEnv', () => {
  it('sets author and committer variables', () => {
    expect(identityEnv({ name: 'A', email: 'a@x' }, { name: 'C', email: 'c@x' })).toEqual({
      GIT_AUTHOR_NAME: 'A',
      GIT_AUTHOR_EMAIL: 'a@x',
      GIT_COMMITTER_NAME: 'C',
      GIT_COMMITTER_EMAIL: 'c@x',
    });
  });

  it('rejects identities git cannot store', () => {
    for (const bad of [
      { name: '', email: 'a@x' },
      { name: 'A <evil>', email: 'a@x' },
      { name: 'A', email: 'a@x>\nauthor x' },
    ]) {
      expect(() => identityEnv(bad)).toThrow();
      try {
        identityEnv(bad);
      } catch (error) {
        expect(isGitSwarmError(error, 'invalid_input')).toBe(true);
      }
    }
  });
});
