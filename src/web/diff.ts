/**
 * A unified diff split file by file and highlighted line by line with highlight.js (its core and
 * a few languages only, to keep the bundle small). Lines are highlighted one at a time: a
 * construct spanning lines loses its colour, never its text.
 */
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import css from 'highlight.js/lib/languages/css';
import go from 'highlight.js/lib/languages/go';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import type { Rendered } from './components.js';
import { html } from './html.js';

for (const [name, language] of Object.entries({
  bash,
  css,
  go,
  javascript,
  json,
  markdown,
  python,
  rust,
  typescript,
  xml,
  yaml,
})) {
  hljs.registerLanguage(name, language);
}

const LANGUAGE_BY_EXTENSION: Record<string, string> = {
  js: 'javascript',
  mjs: 'javascript',
  cjs: 'javascript',
  jsx: 'javascript',
  ts: 'typescript',
  tsx: 'typescript',
  mts: 'typescript',
  json: 'json',
  md: 'markdown',
  py: 'python',
  rs: 'rust',
  go: 'go',
  css: 'css',
  html: 'xml',
  xml: 'xml',
  svg: 'xml',
  yml: 'yaml',
  yaml: 'yaml',
  sh: 'bash',
  bash: 'bash',
};

/** The highlight.js language for a path, or null (shown plain). */
export function languageOf(path: string): string | null {
  const extension = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase();
  return (extension && LANGUAGE_BY_EXTENSION[extension]) ?? null;
}

/** Splits a unified diff into files: {path, header, lines: [{kind, text}]}. */
export type DiffLineKind = 'hunk' | 'add' | 'del' | 'note' | 'ctx';
export interface DiffLine {
  kind: DiffLineKind;
  text: string;
}
export interface DiffFile {
  path: string;
  header: string[];
  lines: DiffLine[];
}

export function parseDiff(text: string): DiffFile[] {
  const files: DiffFile[] = [];
  let file: DiffFile | null = null;
  for (const line of text.split('\n')) {
    const start = /^diff --git a\/(.+?) b\/(.+)$/.exec(line);
    if (start) {
      file = { path: start[2] as string, header: [line], lines: [] };
      files.push(file);
      continue;
    }
    if (!file) continue;
    if (file.lines.length === 0 && !line.startsWith('@@')) {
      file.header.push(line);
      continue;
    }
    const kind: DiffLineKind = line.startsWith('@@')
      ? 'hunk'
      : line.startsWith('+')
        ? 'add'
        : line.startsWith('-')
          ? 'del'
          : line.startsWith('\\')
            ? 'note'
            : 'ctx';
    file.lines.push({ kind, text: kind === 'hunk' || kind === 'note' ? line : line.slice(1) });
  }
  // A trailing newline leaves one empty context line at the end.
  for (const each of files) {
    const last = each.lines.at(-1);
    if (last && last.kind === 'ctx' && last.text === '') each.lines.pop();
  }
  return files;
}

function highlighted(text: string, language: string | null): string | null {
  if (!language) return null;
  return hljs.highlight(text, { language, ignoreIllegals: true }).value;
}

const SIGN: Record<DiffLineKind, string> = { add: '+', del: '−', ctx: ' ', hunk: '', note: '' };
const MAX_LINES_PER_FILE = 2000;

interface FileDiffProps {
  file: DiffFile;
}

function FileDiff({ file }: FileDiffProps): Rendered {
  const language = languageOf(file.path);
  const added = file.lines.filter((l) => l.kind === 'add').length;
  const removed = file.lines.filter((l) => l.kind === 'del').length;
  const binary = file.header.some((l) => l.startsWith('Binary files'));
  const lines = file.lines.slice(0, MAX_LINES_PER_FILE);
  return html`<details class="diff-file" open data-file=${file.path}>
    <summary><code>${file.path}</code> <span class="adds">+${added}</span> <span class="dels">−${removed}</span></summary>
    ${
      binary
        ? html`<p class="muted">Binary file.</p>`
        : html`<div class="diff-scroll" tabindex="0" role="region" aria-label=${`Diff of ${file.path}`}><table class="diff"><tbody>
      ${lines.map((line, index) => {
        const code =
          line.kind === 'add' || line.kind === 'del' || line.kind === 'ctx'
            ? highlighted(line.text, language)
            : null;
        return html`<tr key=${index} class=${`line-${line.kind}`}>
          <td class="sign" aria-hidden="true">${SIGN[line.kind]}</td>
          ${code !== null ? html`<td class="code hljs" dangerouslySetInnerHTML=${{ __html: code }}></td>` : html`<td class="code">${line.text}</td>`}
        </tr>`;
      })}
    </tbody></table></div>
    ${file.lines.length > lines.length ? html`<p class="muted">${file.lines.length - lines.length} more lines not shown.</p>` : null}`
    }
  </details>`;
}

/** The files of a unified diff, each collapsible, additions and deletions marked in words for screen readers. */
export interface DiffViewProps {
  text: string;
}

export function DiffView({ text }: DiffViewProps): Rendered {
  const files = parseDiff(text);
  if (files.length === 0) return html`<p class="muted">No changes against the buffer.</p>`;
  return html`<div class="diff-files">${files.map((file) => html`<${FileDiff} key=${file.path} file=${file} />`)}</div>`;
}
