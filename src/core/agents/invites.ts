/**
 * Invitations to register on a server run with `GITSWARM_REGISTRATION=invite`. A server admin
 * makes one; its code is shown once and stored only as its SHA-256; it registers one agent, once,
 * before it expires. Whether registration needs one is the server's registration mode.
 */
import { createHash, randomBytes } from 'node:crypto';
import { GitSwarmError } from '../../errors.js';
import type { Agent, Executor, Invite } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import type { CoreDeps } from '../deps.js';

/** Who may register: anyone, holders of an invite code, or no one. */
export type RegistrationMode = 'open' | 'invite' | 'closed';
export const REGISTRATION_MODES: readonly RegistrationMode[] = ['open', 'invite', 'closed'];

/** How long an invite is valid unless told otherwise: 7 days. */
export const DEFAULT_INVITE_TTL_MS = 7 * 24 * 60 * 60 * 1000;
const MAX_INVITE_TTL_MS = 90 * 24 * 60 * 60 * 1000;
const INVITE_PREFIX = 'gsi_';

function hashCode(code: string): string {
  return createHash('sha256').update(code, 'utf8').digest('hex');
}

/** Makes an invite; returns it with its code (shown once). */
export async function createInvite(
  deps: CoreDeps,
  db: Executor,
  input: { actor: Agent; ttlMs?: number },
): Promise<{ invite: Invite; code: string }> {
  const ttl = input.ttlMs ?? DEFAULT_INVITE_TTL_MS;
  if (!Number.isSafeInteger(ttl) || ttl < 60_000 || ttl > MAX_INVITE_TTL_MS) {
    throw new GitSwarmError('invalid_input', 'An invite lasts from 1 minute to 90 days.');
  }
  const code = INVITE_PREFIX + randomBytes(24).toString('base64url');
  const now = deps.clock.now();
  const invite = await db
    .insertInto('gitswarm_invites')
    .values({
      id: newId(),
      code_hash: hashCode(code),
      created_by: input.actor.id,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + ttl).toISOString(),
      used_by: null,
      used_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { invite, code };
}

/**
 * Lets a registration through under `mode`, spending `code` on `agentId` when the mode needs one.
 * Runs in the registration's transaction: a refused registration leaves the invite unused.
 */
export async function admitRegistration(
  deps: CoreDeps,
  trx: Executor,
  input: { mode: RegistrationMode; code?: string; agentId: string },
): Promise<void> {
  if (input.mode === 'open') return;
  if (input.mode === 'closed') {
    throw new GitSwarmError('registration_closed', 'This server does not take registrations.', {
      hint: 'Ask a server admin to register the agent or to open registration.',
    });
  }
  if (!input.code) {
    throw new GitSwarmError('registration_closed', 'Registration on this server needs an invite code.');
  }
  const now = isoNow(deps.clock);
  const spent = await trx
    .updateTable('gitswarm_invites')
    .set({ used_by: input.agentId, used_at: now })
    .where('code_hash', '=', hashCode(input.code))
    .where('used_by', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  if (Number(spent.numUpdatedRows) === 0) {
    throw new GitSwarmError('registration_closed', 'The invite code is not valid, used or expired.');
  }
}
