/**
 * Abuse limits and names: agent names unique whatever their case (`name_folded`, lowercase; agent
 * names are ASCII), invitations for `GITSWARM_REGISTRATION=invite`, and the effects journal of
 * idempotent requests (each committed transaction's result, written in that transaction).
 *
 * Agents registered before this migration whose names differ only by case keep working: the oldest
 * gets the plain folded name, each later one `<folded>#<id>`, so no new collision can be made and
 * none of them is renamed.
 */
import { type Kysely, sql } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

export function abuseLimitsMigration(caps: DialectCapabilities) {
  const t = caps.columnTypes;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('gitswarm_agents')
        .addColumn('name_folded', sql.raw('varchar(150)'))
        .execute();
      const agents = await sql<{ id: string; name: string }>`
        select id, name from gitswarm_agents order by created_at, id`.execute(db);
      const taken = new Set<string>();
      for (const agent of agents.rows) {
        const plain = agent.name.toLowerCase();
        const folded = taken.has(plain) ? `${plain}#${agent.id}` : plain;
        taken.add(plain);
        await sql`update gitswarm_agents set name_folded = ${folded} where id = ${agent.id}`.execute(db);
      }
      await db.schema
        .createIndex('gitswarm_agents_name_folded')
        .on('gitswarm_agents')
        .column('name_folded')
        .unique()
        .execute();

      await db.schema.alterTable('gitswarm_idempotency_keys').addColumn('effects', sql.raw(t.json)).execute();

      await db.schema
        .createTable('gitswarm_invites')
        .addColumn('id', sql.raw(t.uuid), (col) => col.primaryKey())
        .addColumn('code_hash', sql.raw('varchar(64)'), (col) => col.notNull().unique())
        .addColumn('created_by', sql.raw(t.uuid), (col) => col.references('gitswarm_agents.id'))
        .addColumn('created_at', sql.raw(t.timestamp), (col) => col.notNull())
        .addColumn('expires_at', sql.raw(t.timestamp), (col) => col.notNull())
        .addColumn('used_by', sql.raw(t.uuid), (col) => col.references('gitswarm_agents.id'))
        .addColumn('used_at', sql.raw(t.timestamp))
        .execute();
    },
  };
}
