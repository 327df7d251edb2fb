/** Crashes at every failpoint on SQLite (the cases: ./failpoint-cases.ts). */
import { defineCompletenessTest, defineCrashSuite } from './failpoint-cases.js';

defineCompletenessTest();
defineCrashSuite('sqlite');
