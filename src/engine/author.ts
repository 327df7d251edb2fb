/**
 * Who git records as author and committer. The engine never depends on the user's git config:
 * every commit it makes gets its identity from these environment variables.
 */
import { GitSwarmError } from '../errors.js';

/** A name and e-mail as git records them on commits and tags. */
export interface GitIdentity {
  name: string;
  email: string;
}

// git cannot store these inside an ident line (`Name <email> date`).
const BAD_IDENT_CHARS = /[<>\n\r\0]/;

function checkIdentity(identity: GitIdentity): void {
  if (
    identity.name.trim() === '' ||
    identity.email.trim() === '' ||
    BAD_IDENT_CHARS.test(identity.name) ||
    BAD_IDENT_CHARS.test(identity.email)
  ) {
    throw new GitSwarmError(
      'invalid_input',
      `Invalid git identity ${JSON.stringify(`${identity.name} <${identity.email}>`)}.`,
    );
  }
}

/** The GIT_AUTHOR_* and GIT_COMMITTER_* variables for a commit by `author` (committed by `committer`). */
export function identityEnv(author: GitIdentity, committer: GitIdentity = author): Record<string, string> {
  checkIdentity(author);
  if (committer !== author) checkIdentity(committer);
  return {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: committer.name,
    GIT_COMMITTER_EMAIL: committer.email,
  };
}
