import { randomBytes, randomUUID } from 'node:crypto';

/** A new row id (UUID v4). */
export function newId(): string {
  return randomUUID();
}

/** A new stream id: 12 lowercase hex digits, short enough for a branch name `stream/<id>`. */
export function newStreamId(): string {
  return randomBytes(6).toString('hex');
}

export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
