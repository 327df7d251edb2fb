/**
 * The README's shell blocks that tests run as written: the ```sh block after a line
 * `<!-- readme-test: NAME … -->`.
 */
import { readFileSync } from 'node:fs';

const README = new URL('../../README.md', import.meta.url);

/** The text of the shell block marked `readme-test: name`; throws when there is none. */
export function readmeBlock(name: string): string {
  const text = readFileSync(README, 'utf8');
  const marker = `<!-- readme-test: ${name} `;
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`README.md has no block marked readme-test: ${name}`);
  const match = /```sh\n([\s\S]*?)\n```/.exec(text.slice(at));
  if (!match?.[1]) throw new Error(`README.md: no sh block after readme-test: ${name}`);
  return match[1];
}
