/**
 * git's stable patch-id (`git patch-id --stable`), computed from a diff's bytes as they stream
 * instead of in a second git process. The same number, bit for bit, so fingerprints stored by
 * earlier versions (which piped the diff into `git patch-id --stable`) still compare equal; the
 * tests hold it to git's own answers.
 *
 * The rules, as git applies them to a diff:
 * - lines before the first `diff ` line are ignored, and so are "\ No newline at end of file"
 *   lines; `index` lines are not hashed (their object ids are kept for binary files);
 * - each file's lines are hashed with every space, tab, CR and LF removed; hunk headers are not
 *   hashed (line numbers do not count), and a hunk ends when its line counts are used up;
 * - a binary file hashes the object ids of its `index` line instead of its content (`--full-index`
 *   diffs always have one; without, git would hash memory it never wrote, and ours hashes nothing);
 * - "stable": each file's hash is added to the result as a little-endian number (with carry), so
 *   the order of the files does not matter;
 * - a line that cannot continue the patch ends it (git would start another patch there: the
 *   fingerprint is the first's).
 */
import { createHash, type Hash } from 'node:crypto';

/** The repository's object hash, which patch-ids use too. */
export type PatchIdHash = 'sha1' | 'sha256';

const LF = 0x0a;

/** The bytes git's `isspace` removes (git's own ctype: not \v or \f). */
function isGitSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === LF || byte === 0x0d;
}

function isAsciiAlpha(byte: number | undefined): boolean {
  return byte !== undefined && ((byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a));
}

function startsWith(line: Buffer, prefix: string): boolean {
  for (let i = 0; i < prefix.length; i++) if (line[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

const DIGITS = /^\d*/;

/**
 * The line counts of a hunk header (`@@ -12,3 +12,4 @@`; a count left out is 1). A malformed header
 * gives no new count, and the old count git had read before noticing.
 */
function hunkCounts(line: Buffer): { before: number; after?: number } {
  let rest = line.toString('latin1', 4); // after "@@ -"
  let digits = (DIGITS.exec(rest) as RegExpExecArray)[0];
  let before = 1;
  if (rest[digits.length] === ',') {
    rest = rest.slice(digits.length + 1);
    digits = (DIGITS.exec(rest) as RegExpExecArray)[0];
    before = Number(digits || 0);
  }
  if (digits.length === 0 || rest[digits.length] !== ' ' || rest[digits.length + 1] !== '+')
    return { before };
  rest = rest.slice(digits.length + 2);
  digits = (DIGITS.exec(rest) as RegExpExecArray)[0];
  let after = 1;
  if (rest[digits.length] === ',') {
    rest = rest.slice(digits.length + 1);
    digits = (DIGITS.exec(rest) as RegExpExecArray)[0];
    after = Number(digits || 0);
  }
  return { before, after };
}

/** Feeds a diff's bytes in with `update`; `digest` gives the patch-id, or null for an empty diff. */
export class StablePatchId {
  readonly #algorithm: PatchIdHash;
  readonly #sum: Buffer;
  #file: Hash;
  /** A file's bytes waiting to be hashed: one hash update per 64 KiB rather than one per line. */
  readonly #pending = Buffer.allocUnsafe(1 << 16);
  #pendingLength = 0;
  #partial: Buffer[] = [];
  /**
   * Lines left in the hunk's old and new sides; `before` is -1 while reading a file's header, and
   * `after` counts only once a `--- ` line has set both.
   */
  #before = -1;
  #after = 0;
  #binary = false;
  #oldOid = '';
  #newOid = '';
  /** How many bytes were hashed: git prints no patch-id for none. */
  #hashed = 0;
  #ended = false;

  constructor(algorithm: PatchIdHash = 'sha1') {
    this.#algorithm = algorithm;
    this.#sum = Buffer.alloc(algorithm === 'sha1' ? 20 : 32);
    this.#file = createHash(algorithm);
  }

  update(chunk: Buffer): void {
    let start = 0;
    for (let end = chunk.indexOf(LF); end !== -1; end = chunk.indexOf(LF, start)) {
      const line = chunk.subarray(start, end + 1);
      // A line begun in an earlier chunk is joined (the only copy of a line).
      if (this.#partial.length > 0) {
        this.#partial.push(line);
        this.#line(Buffer.concat(this.#partial));
        this.#partial = [];
      } else this.#line(line);
      start = end + 1;
    }
    // The start of a line a later chunk ends (copied: the caller may reuse its buffer).
    this.#partial.push(Buffer.from(chunk.subarray(start)));
  }

  /** The patch-id; the hasher is used up. */
  digest(): string | null {
    // The last line, when it has no newline (an empty line changes nothing).
    this.#line(Buffer.concat(this.#partial));
    this.#addFileHash();
    return this.#hashed > 0 ? this.#sum.toString('hex') : null;
  }

  /** Adds the current file's hash to the sum (with carry, byte by byte) and starts the next. */
  #addFileHash(): void {
    this.#flushPending();
    const hash = this.#file.digest();
    this.#file = createHash(this.#algorithm);
    let carry = 0;
    hash.forEach((byte, i) => {
      carry += (this.#sum[i] as number) + byte;
      this.#sum[i] = carry & 0xff;
      carry >>= 8;
    });
  }

  #line(line: Buffer): void {
    if (this.#ended) return;
    // "\ No newline at end of file" (or another language's): not part of the change.
    if (startsWith(line, '\\ ') && line.length > 12) return;
    if (this.#hashed === 0 && !startsWith(line, 'diff ')) return;
    if (this.#before === -1) {
      if (startsWith(line, 'GIT binary patch') || startsWith(line, 'Binary files')) {
        this.#binary = true;
        this.#before = 0;
        this.#flushPending();
        this.#file.update(this.#oldOid, 'latin1');
        this.#file.update(this.#newOid, 'latin1');
        this.#addFileHash();
        return;
      }
      if (startsWith(line, 'index ')) {
        this.#readIndexLine(line.toString('latin1'));
        return;
      }
      if (startsWith(line, '--- ')) {
        this.#before = 1;
        this.#after = 1;
      } else if (!isAsciiAlpha(line[0])) {
        this.#ended = true;
        return;
      }
    }
    if (this.#binary) {
      if (startsWith(line, 'diff ')) {
        this.#binary = false;
        this.#before = -1;
      }
      return;
    }
    if (this.#before === 0 && this.#after === 0) {
      if (startsWith(line, '@@ -')) {
        const counts = hunkCounts(line);
        this.#before = counts.before;
        if (counts.after !== undefined) this.#after = counts.after;
        return;
      }
      if (!startsWith(line, 'diff ')) {
        this.#ended = true;
        return;
      }
      this.#addFileHash();
      this.#before = -1;
    }
    const first = line[0];
    if (first === 0x2d || first === 0x20) this.#before--; // '-' or ' '
    if (first === 0x2b || first === 0x20) this.#after--; // '+' or ' '
    this.#hashWithoutSpace(line);
  }

  #hashWithoutSpace(line: Buffer): void {
    // Locals in the loop: it runs once per byte of the diff.
    const pending = this.#pending;
    let length = this.#pendingLength;
    let kept = 0;
    for (let i = 0; i < line.length; i++) {
      const byte = line[i] as number;
      if (isGitSpace(byte)) continue;
      if (length === pending.length) {
        this.#file.update(pending);
        length = 0;
      }
      pending[length++] = byte;
      kept++;
    }
    this.#pendingLength = length;
    this.#hashed += kept;
  }

  #flushPending(): void {
    this.#file.update(this.#pending.subarray(0, this.#pendingLength));
    this.#pendingLength = 0;
  }

  /** `index OLD..NEW[ MODE]`: the object ids a binary file's hash is made of. */
  #readIndexLine(text: string): void {
    const dots = text.indexOf('..');
    if (dots === -1) return;
    // Without a mode after them, the ids end one character before the line does (-1), as in git.
    const end = text.indexOf(' ', dots);
    this.#oldOid = text.slice('index '.length, dots).slice(0, 64);
    this.#newOid = text.slice(dots + 2, end).slice(0, 64);
  }
}
