/**
 * The few helpers of TypeScript's old JavaScript API that the Stryker TypeScript checker still
 * calls in its TypeScript 7 mode (see mutation-ts7-bridge.mjs). Only what that mode uses: reading a
 * file, parsing a tsconfig (JSON with comments and trailing commas) and the version.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { version } = require('typescript/package.json');

/** Removes comments and trailing commas outside strings, the two things tsconfig JSON allows. */
function stripJsonComments(text) {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      out += char;
      if (char === '\\') out += text[++i] ?? '';
      else if (char === '"') inString = false;
    } else if (char === '"') {
      inString = true;
      out += char;
    } else if (char === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (char === '/' && text[i + 1] === '*') {
      i = text.indexOf('*/', i + 2);
      if (i === -1) i = text.length;
      else i++;
    } else {
      out += char;
    }
  }
  return out.replace(/,(\s*[}\]])/g, '$1');
}

function parseConfigFileTextToJson(fileName, text) {
  try {
    return { config: JSON.parse(stripJsonComments(text)) };
  } catch (error) {
    return { config: {}, error: { messageText: `${fileName}: ${String(error)}` } };
  }
}

const sys = {
  readFile(fileName) {
    try {
      return readFileSync(fileName, 'utf8');
    } catch {
      return undefined;
    }
  },
};

export default { version, sys, parseConfigFileTextToJson };
export { parseConfigFileTextToJson, sys, version };
