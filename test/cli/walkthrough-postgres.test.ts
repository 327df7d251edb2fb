/**
 * The Mode A walkthrough on the PostgreSQL dialect (the real server when TEST_DATABASE_URL is set,
 * else PGlite), in-process: PGlite lives in one process, and the binary path is covered on SQLite.
 */
import { dialectLabel } from '../helpers/store.js';
import { storeEnv } from './in-process.js';
import { describeWalkthrough } from './walkthrough-flows.js';

describeWalkthrough(`${dialectLabel('postgres')}, in-process`, async () => ({
  env: await storeEnv('postgres'),
  inProcess: true,
}));
