/**
 * Change-Id: a `Change-Id: I<40 hex>` trailer on every stream commit. It survives rebases, so
 * reviews and history follow a change rather than a SHA (patch-ids do not survive them).
 */
import { randomBytes } from 'node:crypto';

const CHANGE_ID_LINE = /^Change-Id:[ \t]*(I[0-9a-f]{40})[ \t]*$/gm;
const TRAILER_LINE = /^[A-Za-z0-9][A-Za-z0-9-]*:[ \t]/;

/** A fresh Change-Id: `I` followed by 40 lowercase hex digits. */
export function newChangeId(): string {
  return `I${randomBytes(20).toString('hex')}`;
}

/** Whether a string is a well-formed Change-Id. */
export function isChangeId(value: string): boolean {
  return /^I[0-9a-f]{40}$/.test(value);
}

/** The Change-Id of a commit message (the last `Change-Id:` trailer below the subject), or null. */
export function readChangeId(message: string): string | null {
  const newline = message.indexOf('\n');
  if (newline < 0) return null;
  let found: string | null = null;
  for (const match of message.slice(newline + 1).matchAll(CHANGE_ID_LINE)) found = match[1] ?? null;
  return found;
}

/**
 * `message` with a `Change-Id: <id>` trailer, unless it already carries one. The trailer joins
 * an existing trailer block (last paragraph, not the subject) or starts a new one after a blank
 * line, as `git interpret-trailers` would.
 */
export function withChangeId(message: string, id: string): string {
  if (readChangeId(message) !== null) return message;
  const text = message.replace(/\s+$/, '');
  const paragraphs = text.split(/\n[ \t]*\n/);
  const last = paragraphs.length > 1 ? paragraphs[paragraphs.length - 1] : undefined;
  const inTrailerBlock = last?.split('\n').every((line) => TRAILER_LINE.test(line)) ?? false;
  return `${text}${inTrailerBlock ? '\n' : '\n\n'}Change-Id: ${id}\n`;
}
