/** Run before each test file (vitest.config.ts): git from the helper process; see worker-git.ts. */
import { useWorkerGitHelper } from './worker-git.js';

useWorkerGitHelper();
