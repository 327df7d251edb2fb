/**
 * The README's (and docs') shell blocks that tests run as written: the ```sh block after a line
 * `<!-- readme-test: NAME … -->`.
 */
import { readFileSync } from 'node:fs';

const README = new URL('../../README.md', import.meta.url);

/** The text of the README's shell block marked `readme-test: name`; throws when there is none. */
export function readmeBlock(name: string): string {
  return markedBlock(README, name);
}

/** The text of the shell block marked `readme-test: name` in a Markdown file (e.g. under docs/). */
export function markedBlock(file: URL, name: string): string {
  const text = readFileSync(file, 'utf8');
  const label = file.pathname.split('/').at(-1) ?? file.pathname;
  const marker = `<!-- readme-test: ${name} `;
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`${label} has no block marked readme-test: ${name}`);
  const match = /```sh\n([\s\S]*?)\n```/.exec(text.slice(at));
  if (!match?.[1]) throw new Error(`${label}: no sh block after readme-test: ${name}`);
  return match[1];
}
