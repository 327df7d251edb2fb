/**
 * Webhook signatures (`X-GitSwarm-Signature: sha256=<hex HMAC-SHA256 of the raw body>`) and the
 * notification id of (event, agent), the same on every server instance.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-GitSwarm-Signature';

/** `sha256=<hex>`: the HMAC-SHA256 of `body` with `secret`. */
export function signPayload(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** Checks a signature header against the body, in constant time (for webhook receivers). */
export function verifySignature(secret: string, body: string, signature: string): boolean {
  const expected = Buffer.from(signPayload(secret, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The notification id of (event, agent): the same on every server instance. */
export function notificationId(eventId: string, agentId: string): string {
  const hex = createHash('sha256').update(`${eventId}:${agentId}`).digest('hex');
  // Shaped as a UUID (version 5 style, RFC 4122 variant) so it fits uuid columns.
  const variant = ((Number.parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
