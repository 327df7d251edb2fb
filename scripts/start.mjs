// `npm start`: builds dist/ if it is stale, then runs `gitswarm serve` in this very process, so a
// supervisor's SIGTERM (sent to npm, which forwards it, or to this process) reaches the server and
// shuts it down gracefully. Arguments after `npm start --` go to `serve` (e.g. --port 4000).
import { buildIfStale } from './build.mjs';

try {
  await buildIfStale();
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
process.argv.splice(2, 0, 'serve');
await import('../bin/gitswarm.js');
