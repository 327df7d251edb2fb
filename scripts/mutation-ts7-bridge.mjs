/**
 * Lets Stryker 10.1 and its TypeScript checker run with this project's TypeScript 7. Loaded into
 * Stryker's main process (stryker.config.mjs imports it) and its checker process (`checkerNodeArgs`);
 * the test runners and the tests never see it.
 *
 * Why: the checker's TypeScript 7 mode ("experimentalNativePreview") runs the compiler through
 * TypeScript 7's own API (`typescript/unstable/sync`), but still imports two helpers of the old
 * JavaScript API from the package named `typescript` (`sys.readFile`, `parseConfigFileTextToJson`),
 * which TypeScript 7 no longer ships, and it looks for TypeScript 7 under the name
 * `@typescript/native`. Stryker's core parses tsconfig.json with the same helper when it builds
 * its sandbox. Installing TypeScript 6 as `typescript` would change the project's compiler,
 * and npm cannot give the checker a different `typescript` than its peer (the root one). So, for
 * imports made by Stryker's packages only, this hook maps `typescript` to the small module below and
 * `@typescript/native/*` to the project's TypeScript 7.
 */
import { registerHooks } from 'node:module';

const STRYKER = '/node_modules/@stryker-mutator/';
const LEGACY_HELPERS = new URL('./mutation-ts7-legacy-helpers.mjs', import.meta.url).href;

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (context.parentURL?.includes(STRYKER)) {
      if (specifier === 'typescript') {
        return { url: LEGACY_HELPERS, shortCircuit: true, format: 'module' };
      }
      if (specifier.startsWith('@typescript/native/')) {
        return nextResolve(specifier.replace('@typescript/native/', 'typescript/'), context);
      }
    }
    return nextResolve(specifier, context);
  },
});
