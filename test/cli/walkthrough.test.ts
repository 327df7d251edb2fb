/** The Mode A walkthrough through the real binary on SQLite (the default `.gitswarm/federation.db`). */
import { describeWalkthrough } from './walkthrough-flows.js';

describeWalkthrough('sqlite, binary', async () => ({}));
