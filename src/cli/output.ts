/**
 * The one renderer: a command's data becomes either one JSON document on stdout (`--json`) or
 * short aligned text for people, coloured only on a terminal.
 */
import type { CliIO } from './io.js';

/** Text decorations; identity functions when colour is off. */
export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  green(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

const sgr = (open: number, close: number) => (text: string) => `\x1b[${open}m${text}\x1b[${close}m`;
const plain = (text: string) => text;

export function createStyle(color: boolean): Style {
  if (!color) return { bold: plain, dim: plain, green: plain, red: plain, yellow: plain, cyan: plain };
  return {
    bold: sgr(1, 22),
    dim: sgr(2, 22),
    green: sgr(32, 39),
    red: sgr(31, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
  };
}

/** Turns a command's data into lines for people. */
export type TextFormatter<T> = (data: T, style: Style) => string;

/** What a command's action hands back: its data, and how people should see it. */
export interface CommandOutput<T = unknown> {
  readonly data: T;
  /** Method syntax on purpose: any CommandOutput<T> is then a CommandOutput<unknown>. */
  text(data: T, style: Style): string;
  /** 0 unless the result itself is a refusal the user acts on (1). */
  readonly exitCode?: 0 | 1;
}

/** Pairs data with its text formatter. */
export function output<T>(data: T, text: TextFormatter<T>, exitCode?: 0 | 1): CommandOutput<T> {
  return { data, text: (value, style) => text(value, style), exitCode };
}

/** Prints a command's output: one JSON document, or its text followed by a newline. */
export function printOutput(io: CliIO, json: boolean, result: CommandOutput): void {
  if (json) {
    io.stdout.write(`${JSON.stringify(result.data, null, 2)}\n`);
    return;
  }
  const text = result.text(result.data, createStyle(io.color));
  if (text !== '') io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escape sequences is the point
const ANSI = /\x1b\[[0-9;]*m/g;

/** Visible width of a string (colour codes do not count). */
export function visibleLength(text: string): number {
  return text.replace(ANSI, '').length;
}

/**
 * Aligns rows into columns separated by two spaces; the last column is not padded.
 * `header` (optional) is printed first, dimmed by the caller if it wishes.
 */
export function table(rows: readonly (readonly string[])[], header?: readonly string[]): string {
  const all = header ? [header, ...rows] : rows;
  const widths: number[] = [];
  for (const row of all) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell));
    });
  }
  return all
    .map((row) =>
      row
        .map((cell, i) =>
          i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - visibleLength(cell)),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `key  value` lines with the keys aligned. */
export function fields(
  pairs: readonly (readonly [string, string | number | boolean | null | undefined])[],
): string {
  return table(
    pairs.map(([key, value]) => [key, value === null || value === undefined ? '-' : String(value)]),
  );
}

/** The first 7 characters of an object id, or '-' when there is none. */
export function shortOid(oid: string | null | undefined): string {
  return oid ? oid.slice(0, 7) : '-';
}

/** Escapes control characters (other than tab and newline) so stored text cannot drive the terminal. */
export function safeText(text: string): string {
  let result = '';
  for (const char of text) {
    const code = char.charCodeAt(0);
    const control = (code < 0x20 && char !== '\t' && char !== '\n') || code === 0x7f;
    result += control ? `\\x${code.toString(16).padStart(2, '0')}` : char;
  }
  return result;
}
