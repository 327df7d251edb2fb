import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_SETTINGS } from '../../src/core/repos/repo-settings.js';
import { RepoSettingsProperties } from '../../src/server/routes/repos.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { createTestRepo, registerTestAgent, startTestApp, type TestAgent, type TestApp } from './helpers.js';

it('the PATCH /repos schema lists exactly the core settings', () => {
  expect(Object.keys({ name: 1, ...RepoSettingsProperties }).sort()).toEqual(
    Object.keys(REPO_SETTINGS).sort(),
  );
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: repository routes`, () => {
    let t: TestApp;
    let owner: TestAgent;
    let other: TestAgent;
    beforeAll(async () => {
      t = await startTestApp(dialect);
      owner = await registerTestAgent(t.app, 'owner');
      other = await registerTestAgent(t.app, 'other');
    });
    afterAll(async () => {
      await t.close();
    });

    it('creates a repository owned by the caller, with settings validated by the core', async () => {
      const repo = await createTestRepo(t.app, owner, { merge_mode: 'review', ownership_model: 'guild' });
      expect(repo).toMatchObject({
        merge_mode: 'review',
        ownership_model: 'guild',
        buffer_branch: 'buffer',
        stage: 'seed',
      });
      const maintainers = await t.app.inject({ url: `/api/v1/repos/${repo.id}/maintainers` });
      expect(maintainers.json().maintainers).toEqual([
        expect.objectContaining({ agent_id: owner.id, agent_name: 'owner', role: 'owner' }),
      ]);
      const bad = await t.app.inject({
        method: 'POST',
        url: '/api/v1/repos',
        headers: owner.headers,
        payload: { name: 'r', buffer_branch: '-evil' },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.code).toBe('invalid_input');
      const same = await t.app.inject({
        method: 'POST',
        url: '/api/v1/repos',
        headers: owner.headers,
        payload: { name: 'r', buffer_branch: 'main', promote_target: 'main' },
      });
      expect(same.statusCode).toBe(400);
      const wrongEnum = await t.app.inject({
        method: 'POST',
        url: '/api/v1/repos',
        headers: owner.headers,
        payload: { name: 'r', merge_mode: 'yolo' },
      });
      expect(wrongEnum.statusCode).toBe(400);
      expect(wrongEnum.json().error.code).toBe('invalid_input');
    });

    it('PATCH settings: admin only (403 otherwise), unknown keys 400', async () => {
      const repo = await createTestRepo(t.app, owner);
      const forbidden = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/repos/${repo.id}`,
        headers: other.headers,
        payload: { min_reviews: 3 },
      });
      expect(forbidden.statusCode).toBe(403);
      expect(forbidden.json().error.code).toBe('forbidden');
      const ok = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/repos/${repo.id}`,
        headers: owner.headers,
        payload: { min_reviews: 3, consensus_threshold: 0.75 },
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.json().repo).toMatchObject({ min_reviews: 3, consensus_threshold: 0.75 });
      const unknown = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/repos/${repo.id}`,
        headers: owner.headers,
        payload: { status: 'archived' },
      });
      expect(unknown.statusCode).toBe(400);
    });

    it('maintainers and access grants: add, list, remove; 409 twice, 404 unknown', async () => {
      const repo = await createTestRepo(t.app, owner);
      const add = await t.app.inject({
        method: 'POST',
        url: `/api/v1/repos/${repo.id}/maintainers`,
        headers: owner.headers,
        payload: { agent_id: other.id },
      });
      expect(add.statusCode).toBe(201);
      expect(add.json().maintainers).toHaveLength(2);
      const twice = await t.app.inject({
        method: 'POST',
        url: `/api/v1/repos/${repo.id}/maintainers`,
        headers: owner.headers,
        payload: { agent_id: 'other' },
      });
      expect(twice.statusCode).toBe(409);
      const byOther = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/repos/${repo.id}/maintainers/${owner.id}`,
        headers: other.headers,
      });
      expect(byOther.statusCode).toBe(403);
      const remove = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/repos/${repo.id}/maintainers/${other.id}`,
        headers: owner.headers,
      });
      expect(remove.statusCode).toBe(200);
      const unknown = await t.app.inject({
        method: 'POST',
        url: `/api/v1/repos/${repo.id}/maintainers`,
        headers: owner.headers,
        payload: { agent_id: 'nobody' },
      });
      expect(unknown.statusCode).toBe(404);

      const grant = await t.app.inject({
        method: 'POST',
        url: `/api/v1/repos/${repo.id}/access`,
        headers: owner.headers,
        payload: { agent_id: other.id, access_level: 'read' },
      });
      expect(grant.statusCode).toBe(201);
      expect(grant.json().grants).toEqual([
        expect.objectContaining({ agent_id: other.id, access_level: 'read', granted_by: owner.id }),
      ]);
      const revoke = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/repos/${repo.id}/access/${other.id}`,
        headers: owner.headers,
      });
      expect(revoke.statusCode).toBe(200);
      const again = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/repos/${repo.id}/access/${other.id}`,
        headers: owner.headers,
      });
      expect(again.statusCode).toBe(404);
    });

    it('private repositories: hidden from anonymous readers and agents without access', async () => {
      const repo = await createTestRepo(t.app, owner, { is_private: true });
      const anonymous = await t.app.inject({ url: `/api/v1/repos/${repo.id}` });
      expect(anonymous.statusCode).toBe(401);
      const stranger = await t.app.inject({ url: `/api/v1/repos/${repo.id}`, headers: other.headers });
      expect(stranger.statusCode).toBe(403);
      const list = await t.app.inject({ url: '/api/v1/repos', headers: other.headers });
      expect(list.json().repos.map((r: { id: string }) => r.id)).not.toContain(repo.id);
      const ownList = await t.app.inject({ url: '/api/v1/repos', headers: owner.headers });
      expect(ownList.json().repos.map((r: { id: string }) => r.id)).toContain(repo.id);
      const feed = await t.app.inject({ url: '/api/v1/activity?limit=1000', headers: other.headers });
      expect(feed.json().activity.some((e: { repo_id: string }) => e.repo_id === repo.id)).toBe(false);
    });

    it('branch rules: admin CRUD, validated, one rule per pattern', async () => {
      const repo = await createTestRepo(t.app, owner);
      const url = `/api/v1/repos/${repo.id}/branch-rules`;
      const forbidden = await t.app.inject({
        method: 'POST',
        url,
        headers: other.headers,
        payload: { branch_pattern: 'main' },
      });
      expect(forbidden.statusCode).toBe(403);
      const created = await t.app.inject({
        method: 'POST',
        url,
        headers: owner.headers,
        payload: {
          branch_pattern: 'release/*',
          required_approvals: 2,
          merge_restriction: 'maintainers_only',
          priority: 5,
        },
      });
      expect(created.statusCode).toBe(201);
      const rule = created.json().rule;
      expect(rule).toMatchObject({
        branch_pattern: 'release/*',
        direct_push: 'none',
        required_approvals: 2,
        require_tests_pass: false,
        consensus_threshold: null,
        merge_restriction: 'maintainers_only',
        priority: 5,
      });
      const twice = await t.app.inject({
        method: 'POST',
        url,
        headers: owner.headers,
        payload: { branch_pattern: 'release/*' },
      });
      expect(twice.statusCode).toBe(409);
      for (const payload of [
        { branch_pattern: '-x' },
        { branch_pattern: 'a..b' },
        { branch_pattern: 'main', priority: 1.5 },
      ]) {
        expect(
          (await t.app.inject({ method: 'POST', url, headers: owner.headers, payload })).statusCode,
        ).toBe(400);
      }
      const patched = await t.app.inject({
        method: 'PATCH',
        url: `${url}/${rule.id}`,
        headers: owner.headers,
        payload: { consensus_threshold: 0.9 },
      });
      expect(patched.json().rule.consensus_threshold).toBe(0.9);
      expect((await t.app.inject({ url })).json().rules).toHaveLength(1);
      const removed = await t.app.inject({
        method: 'DELETE',
        url: `${url}/${rule.id}`,
        headers: owner.headers,
      });
      expect(removed.statusCode).toBe(200);
      const gone = await t.app.inject({ method: 'DELETE', url: `${url}/${rule.id}`, headers: owner.headers });
      expect(gone.statusCode).toBe(404);
    });

    it('DELETE archives (admin), archived repositories leave the list', async () => {
      const repo = await createTestRepo(t.app, owner);
      expect(
        (await t.app.inject({ method: 'DELETE', url: `/api/v1/repos/${repo.id}`, headers: other.headers }))
          .statusCode,
      ).toBe(403);
      const archived = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/repos/${repo.id}`,
        headers: owner.headers,
      });
      expect(archived.json().repo.status).toBe('archived');
      const list = await t.app.inject({ url: '/api/v1/repos', headers: owner.headers });
      expect(list.json().repos.map((r: { id: string }) => r.id)).not.toContain(repo.id);
      const again = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/repos/${repo.id}`,
        headers: owner.headers,
      });
      expect(again.statusCode).toBe(409);
      // An archived repository takes no writes: 409 invalid_state naming it, and nothing recorded.
      const write = await t.app.inject({
        method: 'POST',
        url: `/api/v1/repos/${repo.id}/streams`,
        headers: owner.headers,
        payload: { name: 'late' },
      });
      expect(write.statusCode).toBe(409);
      expect(write.json().error).toMatchObject({ code: 'invalid_state' });
      expect(write.json().error.message).toContain(`Repository ${repo.name} is archived`);
      const streams = await t.app.inject({ url: `/api/v1/repos/${repo.id}/streams`, headers: owner.headers });
      expect(streams.json().streams).toHaveLength(0);
    });

    it('PATCH /agents/:id changes only your own profile', async () => {
      const mine = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/agents/${other.id}`,
        headers: other.headers,
        payload: { description: 'Reviews tests.', avatar_url: 'https://example.org/a.png' },
      });
      expect(mine.json().agent).toMatchObject({
        description: 'Reviews tests.',
        avatar_url: 'https://example.org/a.png',
      });
      const theirs = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/agents/${owner.id}`,
        headers: other.headers,
        payload: { description: 'hijacked' },
      });
      expect(theirs.statusCode).toBe(403);
      const karma = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/agents/${other.id}`,
        headers: other.headers,
        payload: { karma: 1e6 },
      });
      expect(karma.statusCode).toBe(400);
      const badUrl = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/agents/${other.id}`,
        headers: other.headers,
        payload: { avatar_url: 'javascript:alert(1)' },
      });
      expect(badUrl.statusCode).toBe(400);
    });

    it('activity: per repository, filtered by event type', async () => {
      const repo = await createTestRepo(t.app, owner);
      await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/repos/${repo.id}`,
        headers: owner.headers,
        payload: { description: 'hello' },
      });
      const all = await t.app.inject({ url: `/api/v1/repos/${repo.id}/activity` });
      expect(all.json().activity.map((e: { event_type: string }) => e.event_type)).toEqual([
        'repo.settings_changed',
        'repo.initialized',
      ]);
      const filtered = await t.app.inject({
        url: `/api/v1/repos/${repo.id}/activity?event_type=repo.initialized`,
      });
      expect(filtered.json().activity).toHaveLength(1);
    });
  });
}
