/** Crashes at every failpoint on PostgreSQL (the cases: ./failpoint-cases.ts). */
import { defineCrashSuite } from './failpoint-cases.js';

defineCrashSuite('postgres');
