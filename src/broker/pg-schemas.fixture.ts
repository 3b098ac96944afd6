/**
 * Schemas of their own for the PostgreSQL tests: each test file gets fresh
 * names under `prefix`, and every schema it named is dropped after it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll } from 'vitest';

/** The server the PostgreSQL tests use. */
export const TEST_POSTGRES_URL = process.env.GEOBRIDGE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A maker of unique schema names (`prefix`, process, count, random, then `suffix`), each dropped once the test file is done. */
export function testSchemas(prefix: string): (suffix?: string) => string {
  const schemas: string[] = [];
  afterAll(async () => {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    try {
      for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
    } finally {
      await client.end();
    }
  });
  return (suffix = '') => {
    const name = `${prefix}_${String(process.pid)}_${String(schemas.length)}_${randomBytes(4).toString('hex')}${suffix}`;
    schemas.push(name);
    return name;
  };
}
