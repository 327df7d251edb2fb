/**
 * Validation of every user-given name that becomes part of a branch, ref, path or argument:
 * names can never start with "-" (an option to git), contain "..", spaces, control characters
 * or path separators.
 */
import { GitSwarmError } from '../errors.js';
import { isUuid } from '../util/ids.js';

const SIMPLE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const BRANCH_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/;

function unsafeRefParts(value: string): boolean {
  return (
    value.includes('..') ||
    value.includes('//') ||
    value.includes('/.') ||
    value.includes('@{') ||
    value.endsWith('.') ||
    value.endsWith('/') ||
    value.endsWith('.lock')
  );
}

/** Checks an agent, stream or workspace name: one path segment that is also a valid ref part. */
export function assertValidName(kind: string, value: string): string {
  if (!SIMPLE_NAME.test(value) || unsafeRefParts(value)) {
    throw new GitSwarmError('invalid_name', `Invalid ${kind} name ${JSON.stringify(value)}.`);
  }
  return value;
}

/**
 * Checks an agent's name: a simple name that is not shaped like a UUID, since agents are looked up
 * by id or name and an id-shaped name could never be found by its name.
 */
export function assertValidAgentName(value: string): string {
  assertValidName('agent', value);
  if (isUuid(value)) {
    throw new GitSwarmError(
      'invalid_name',
      `Invalid agent name ${JSON.stringify(value)}: it looks like an id.`,
      {
        hint: 'Choose a name that is not shaped like a UUID.',
      },
    );
  }
  return value;
}

/** The form of an agent name that is unique: lowercase (agent names are ASCII). */
export function foldAgentName(value: string): string {
  return value.toLowerCase();
}

/** Checks a branch name given by a user (buffer, promote target). */
export function assertValidBranch(value: string): string {
  if (!BRANCH_NAME.test(value) || unsafeRefParts(value)) {
    throw new GitSwarmError('invalid_name', `Invalid branch name ${JSON.stringify(value)}.`, {
      hint: 'Use letters, digits, ".", "_", "-" and "/"; start with a letter or digit.',
    });
  }
  return value;
}

/** Checks a full object id as printed by git. */
export function isObjectId(value: string): boolean {
  return /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(value);
}

/** Checks a full ref name handed to the engine (`refs/heads/buffer`, `refs/tags/green/…`). */
export function assertValidRef(value: string): string {
  if (!value.startsWith('refs/') || !BRANCH_NAME.test(value) || unsafeRefParts(value)) {
    throw new GitSwarmError('invalid_name', `Invalid ref name ${JSON.stringify(value)}.`);
  }
  return value;
}

/** Checks a tag name (one or more ref parts, e.g. `green/20260301-120000`). */
export function assertValidTag(value: string): string {
  if (!BRANCH_NAME.test(value) || unsafeRefParts(value)) {
    throw new GitSwarmError('invalid_name', `Invalid tag name ${JSON.stringify(value)}.`);
  }
  return value;
}

/**
 * Checks a revision handed to the engine: a full object id or a plain ref name. Rejects anything
 * git could read as an option or a range, so it is safe as a positional argument.
 */
export function assertRevision(value: string): string {
  if (isObjectId(value)) return value;
  if (!BRANCH_NAME.test(value) || unsafeRefParts(value)) {
    throw new GitSwarmError('invalid_input', `Invalid revision ${JSON.stringify(value)}.`);
  }
  return value;
}
