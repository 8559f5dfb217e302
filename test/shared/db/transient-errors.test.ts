/**
 * Which database errors a retry can outlive (503, redelivery) and which no retry changes (the
 * rows are refused): shared/db/database.ts. Errors as node-postgres raises them, with the
 * SQLSTATE in `code`; the wire tests cover the deadlines (test/postgres-deadlines.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { isTransientDbError } from '../../../shared/db/database.ts';

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('isTransientDbError', () => {
  it.each([
    ['57014', 'canceling statement due to statement timeout'],
    ['55P03', 'canceling statement due to lock timeout'],
    ['55000', 'database "telemetry" is not currently accepting connections'],
    ['57P03', 'the database system is starting up'],
    ['40001', 'could not serialize access due to concurrent update'],
    ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'],
  ])('%s (%s): transient', (code, message) => {
    expect(isTransientDbError(pgError(code, message))).toBe(true);
  });

  it.each([
    ['55000', 'cannot execute CREATE INDEX CONCURRENTLY within a pipeline'],
    ['22P02', 'invalid input syntax for type json'],
    ['23505', 'duplicate key value violates unique constraint'],
    ['42703', 'column "x" does not exist'],
  ])('%s (%s): not transient', (code, message) => {
    expect(isTransientDbError(pgError(code, message))).toBe(false);
  });
});
