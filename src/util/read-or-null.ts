/**
 * File reads that answer null instead of throwing, for code that reads git's own files directly
 * and asks git whenever a file is not there or not as expected.
 */
import { readFileSync, realpathSync, type Stats, statSync } from 'node:fs';

/** A text file's content, or null when it cannot be read. */
export function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** A path's stat (following links), or null when there is nothing there. */
export function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** A path with every link resolved, or null when there is nothing there. */
export function realpathOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}
