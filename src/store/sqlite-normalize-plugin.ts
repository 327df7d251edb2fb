import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import { BOOLEAN_COLUMNS, JSON_COLUMNS } from './normalized-columns.js';

function toSqliteValue(value: unknown): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  return value;
}

/**
 * A query's parameters as SQLite can bind them: booleans as 0/1, dates as ISO text (better-sqlite3
 * takes neither). The same array when none needs it, as for most queries.
 */
export function toSqliteParameters(parameters: readonly unknown[]): readonly unknown[] {
  for (let i = 0; i < parameters.length; i++) {
    const value = parameters[i];
    if (toSqliteValue(value) !== value) return parameters.map(toSqliteValue);
  }
  return parameters;
}

function normalizeRow(row: UnknownRow): UnknownRow {
  for (const key of Object.keys(row)) {
    const value = row[key];
    if (BOOLEAN_COLUMNS.has(key) && typeof value === 'number') row[key] = value !== 0;
    else if (JSON_COLUMNS.has(key) && typeof value === 'string') row[key] = JSON.parse(value);
  }
  return row;
}

/**
 * Reads booleans and JSON back typed. Parameters are bound by the driver (`toSqliteParameters`):
 * converting them here would copy every query's whole tree.
 */
export class SqliteNormalizePlugin implements KyselyPlugin {
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    for (const row of args.result.rows) normalizeRow(row);
    return args.result;
  }
}
