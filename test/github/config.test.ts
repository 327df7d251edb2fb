/** The GitHub App's settings from the environment (src/github/config.ts). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readGitHubConfig } from '../../src/github/config.js';

describe('readGitHubConfig', () => {
  it('defaults to api.github.com and nothing configured', () => {
    expect(readGitHubConfig({})).toEqual({
      appId: null,
      privateKey: null,
      webhookSecret: null,
      apiUrl: 'https://api.github.com',
    });
  });

  it('reads the App, the secret, the key (inline or from a file) and an Enterprise API URL', () => {
    const env = {
      GITHUB_APP_ID: '12345',
      GITHUB_APP_PRIVATE_KEY: '-----BEGIN KEY-----\\nabc\\n-----END KEY-----',
      GITHUB_WEBHOOK_SECRET: 's3cret',
      GITHUB_API_URL: 'https://ghe.example.com/api/v3/',
    };
    expect(readGitHubConfig(env)).toEqual({
      appId: '12345',
      privateKey: '-----BEGIN KEY-----\nabc\n-----END KEY-----',
      webhookSecret: 's3cret',
      apiUrl: 'https://ghe.example.com/api/v3',
    });
    const file = join(mkdtempSync(join(tmpdir(), 'gitswarm-gh-')), 'app.pem');
    writeFileSync(file, 'PEM FROM FILE\n');
    expect(readGitHubConfig({ GITHUB_APP_PRIVATE_KEY_FILE: file }).privateKey).toBe('PEM FROM FILE\n');
  });

  it('refuses both key forms, an unreadable key file and a non-http API URL', () => {
    expect(() =>
      readGitHubConfig({ GITHUB_APP_PRIVATE_KEY: 'x', GITHUB_APP_PRIVATE_KEY_FILE: '/x' }),
    ).toThrow(expect.objectContaining({ code: 'invalid_input' }));
    expect(() => readGitHubConfig({ GITHUB_APP_PRIVATE_KEY_FILE: '/nonexistent/app.pem' })).toThrow(
      expect.objectContaining({ code: 'invalid_input' }),
    );
    expect(() => readGitHubConfig({ GITHUB_API_URL: 'file:///etc/passwd' })).toThrow(
      expect.objectContaining({ code: 'invalid_input' }),
    );
  });
});
