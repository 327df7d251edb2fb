/**
 * Who receives an event: an empty filter is the agent's own events (not every public event),
 * `agent.*` events go only to their subject, and one event is delivered once per target URL.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recipientsOf, type WebhookPreference } from '../../src/core/notifications/notifications.js';
import type { ActivityEntry } from '../../src/store/index.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { createTestRepo, registerTestAgent, startTestApp, type TestApp } from './helpers.js';
import { patchRepo, setWebhook, startReceiver } from './webhook-helpers.js';

function typesOf(deliveries: { body: string }[]): string[] {
  return deliveries.map((d) => JSON.parse(d.body).type);
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: notification fan-out`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(dialect, { notifications: { allowPrivateTargets: true, baseDelayMs: 5 } });
    });
    afterAll(async () => {
      await t.close();
    });

    it('an empty filter is not every public event: only repositories where the agent holds a role or grant', async () => {
      const receiver = await startReceiver();
      try {
        const owner = await registerTestAgent(t.app);
        const listener = await registerTestAgent(t.app);
        await setWebhook(t.app, listener, { webhook_url: receiver.url, events: [] });
        const repo = await createTestRepo(t.app, owner);
        await patchRepo(t.app, owner, repo.id, 'a public repository the listener has nothing to do with');
        await t.app.notifications?.idle();
        expect(typesOf(receiver.deliveries)).toEqual([]);

        const grant = await t.app.inject({
          method: 'POST',
          url: `/api/v1/repos/${repo.id}/access`,
          headers: owner.headers,
          payload: { agent_id: listener.id, access_level: 'read' },
        });
        expect(grant.statusCode).toBe(201);
        await patchRepo(t.app, owner, repo.id, 'now it holds a grant there');
        await t.app.notifications?.idle();
        expect(typesOf(receiver.deliveries)).toEqual(['access.granted', 'repo.settings_changed']);
      } finally {
        receiver.close();
      }
    });

    it("agent.* events go only to their subject, whatever the bystanders' filters say", async () => {
      const receiver = await startReceiver();
      try {
        const bystander = await registerTestAgent(t.app);
        await setWebhook(t.app, bystander, {
          webhook_url: receiver.url,
          events: ['agent.registered', 'agent.updated'],
        });
        const other = await registerTestAgent(t.app);
        const profile = await t.app.inject({
          method: 'PATCH',
          url: `/api/v1/agents/${other.id}`,
          headers: other.headers,
          payload: { description: 'changed' },
        });
        expect(profile.statusCode).toBe(200);
        await t.app.notifications?.idle();
        expect(receiver.deliveries).toHaveLength(0);

        // An agent.* event caused by someone else about `subject` reaches the subject alone.
        const subject = await registerTestAgent(t.app);
        const preferences: WebhookPreference[] = [subject, bystander].map((agent) => ({
          agent_id: agent.id,
          webhook_url: `http://127.0.0.1:1/${agent.id}`,
          webhook_secret: 'x',
          events: [],
        }));
        const event: ActivityEntry = {
          id: randomUUID(),
          repo_id: null,
          agent_id: other.id,
          event_type: 'agent.updated',
          target_type: 'agent',
          target_id: subject.id,
          metadata: {},
          created_at: new Date().toISOString(),
        };
        const recipients = await recipientsOf(t.app.deps, t.store.db, event, preferences);
        expect(recipients.map((p) => p.agent_id)).toEqual([subject.id]);
      } finally {
        receiver.close();
      }
    });

    it('agents sharing a webhook URL get one delivery per event', async () => {
      const receiver = await startReceiver();
      try {
        const owner = await registerTestAgent(t.app);
        const sharers = [];
        for (let i = 0; i < 5; i++) {
          const agent = await registerTestAgent(t.app);
          await setWebhook(t.app, agent, { webhook_url: receiver.url, events: ['repo.settings_changed'] });
          sharers.push(agent);
        }
        const repo = await createTestRepo(t.app, owner);
        await patchRepo(t.app, owner, repo.id, 'once, not five times');
        await t.app.notifications?.idle();
        expect(receiver.deliveries).toHaveLength(1);
        const rows = await t.store.db
          .selectFrom('gitswarm_agent_notifications')
          .select('agent_id')
          .where(
            'agent_id',
            'in',
            sharers.map((a) => a.id),
          )
          .execute();
        // The agent with the smallest id receives it (the same choice on every instance).
        expect(rows.map((r) => r.agent_id)).toEqual([sharers.map((a) => a.id).sort()[0]]);
      } finally {
        receiver.close();
      }
    });
  });
}
