/**
 * Reads a Stryker JSON report (mutation-testing-report-schema) and reduces it to what we track:
 * the score per file and the mutants that survived. Usable on its own:
 *   node scripts/mutation-score.mjs reports/mutation/consensus/mutation.json
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

/** Score = detected / (detected + undetected); compile errors and ignored mutants do not count. */
export function summarize(reportPath) {
  if (!existsSync(reportPath)) return null;
  const report = JSON.parse(readFileSync(reportPath, 'utf8'));
  const files = [];
  const survivors = [];
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const counts = {
      Killed: 0,
      Timeout: 0,
      Survived: 0,
      NoCoverage: 0,
      CompileError: 0,
      RuntimeError: 0,
      Ignored: 0,
    };
    for (const mutant of mutants) {
      // Static mutants are ignored (stryker.config.mjs: ignoreStatic); a result kept by incremental
      // mode from before that setting still says Survived, and is ignored here the same way.
      const status = mutant.static && UNDETECTED.has(mutant.status) ? 'Ignored' : mutant.status;
      counts[status] = (counts[status] ?? 0) + 1;
      if (UNDETECTED.has(status)) {
        survivors.push({
          file,
          line: mutant.location.start.line,
          column: mutant.location.start.column,
          mutator: mutant.mutatorName,
          replacement: mutant.replacement,
          status,
        });
      }
    }
    files.push({ file, counts, ...score(counts) });
  }
  const total = files.reduce((sum, f) => {
    for (const [key, value] of Object.entries(f.counts)) sum[key] = (sum[key] ?? 0) + value;
    return sum;
  }, {});
  return { files, total: { counts: total, ...score(total) }, survivors };
}

function score(counts) {
  let detected = 0;
  let undetected = 0;
  for (const [status, n] of Object.entries(counts)) {
    if (DETECTED.has(status)) detected += n;
    if (UNDETECTED.has(status)) undetected += n;
  }
  const valid = detected + undetected;
  return { detected, valid, score: valid === 0 ? null : (100 * detected) / valid };
}

export function formatScore(score) {
  return score === null ? 'n/a' : `${score.toFixed(1)}%`;
}

export function formatSummary(name, summary) {
  const lines = [];
  const { counts } = summary.total;
  lines.push(
    `${name}: ${formatScore(summary.total.score)} (${summary.total.detected}/${summary.total.valid} detected;` +
      ` killed ${counts.Killed ?? 0}, timeout ${counts.Timeout ?? 0}, survived ${counts.Survived ?? 0},` +
      ` no coverage ${counts.NoCoverage ?? 0}, compile errors ${counts.CompileError ?? 0},` +
      ` ignored ${counts.Ignored ?? 0})`,
  );
  for (const s of summary.survivors) {
    lines.push(
      `  ${s.status.padEnd(10)} ${s.file}:${s.line}:${s.column} ${s.mutator} -> ${oneLine(s.replacement)}`,
    );
  }
  return lines.join('\n');
}

function oneLine(text) {
  const flat = String(text ?? '').replace(/\s+/g, ' ');
  return flat.length > 90 ? `${flat.slice(0, 87)}...` : flat;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const path of process.argv.slice(2)) {
    const summary = summarize(path);
    console.log(summary ? formatSummary(path, summary) : `${path}: no report`);
  }
}
