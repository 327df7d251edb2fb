/**
 * Columns whose stored form differs by dialect. SQLite keeps booleans as 0/1 and JSON as text;
 * the store turns them back into booleans and parsed values so both dialects yield the same rows.
 * A new boolean or JSON column in schema.ts must be listed here (a store test checks it).
 */
export const BOOLEAN_COLUMNS: ReadonlySet<string> = new Set([
  'is_platform_org',
  'is_human',
  'is_private',
  'auto_promote_on_green',
  'auto_revert_on_red',
  'require_tests_pass',
  'auto_revert_opt_out',
  'tested',
  'executed',
  'enabled',
  'read',
  'delivered',
  'server_git',
  'reverted',
  'suspended',
]);

export const JSON_COLUMNS: ReadonlySet<string> = new Set([
  'metadata',
  'conflict',
  'details',
  'labels',
  'action_data',
  'execution_result',
  'metrics_at_transition',
  'events',
  'payload',
  'response',
  'effects',
  'body',
]);

/** Serialises a value for a JSON column (both dialects take the text form). */
export function toJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}
