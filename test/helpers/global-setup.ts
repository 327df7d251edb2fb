/**
 * Creates one fresh PostgreSQL database for the run when TEST_DATABASE_URL names a reachable
 * server; otherwise the PostgreSQL-dialect tests run on PGlite in-process.
 */
import pg from 'pg';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string | null;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const baseUrl = process.env.TEST_DATABASE_URL;
  if (!baseUrl) {
    console.log('[gitswarm tests] TEST_DATABASE_URL is not set: the PostgreSQL dialect runs on PGlite.');
    project.provide('postgresUrl', null);
    return async () => {};
  }
  const name = `gitswarm_test_${Date.now()}_${process.pid}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  try {
    await admin.connect();
    await admin.query(`create database ${name}`);
  } catch (error) {
    console.log(
      `[gitswarm tests] PostgreSQL at TEST_DATABASE_URL is unreachable (${String(error)}): using PGlite.`,
    );
    await admin.end().catch(() => {});
    project.provide('postgresUrl', null);
    return async () => {};
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  console.log(`[gitswarm tests] PostgreSQL dialect runs on the real server, database ${name}.`);
  project.provide('postgresUrl', url.toString());
  return async () => {
    // The workers' test databases (test/helpers/store.ts) are named after the run's; a test that
    // never closed its store leaves one.
    const { rows } = await admin.query<{ datname: string }>(
      `select datname from pg_database where starts_with(datname, $1)`,
      [`${name}_`],
    );
    for (const { datname } of rows) await admin.query(`drop database if exists ${datname} with (force)`);
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  };
}
