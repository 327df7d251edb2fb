// Which imports the bundles of the built code leave as ordinary imports (scripts/bundle-cli.mjs,
// and the test fixtures' bundles in test/helpers/bundled-fixture.ts).

// Bundled: our code and the pure-JS packages every command loads. Everything else (native
// better-sqlite3, pg, PGlite, the server's packages) stays an ordinary import.
const BUNDLED = /^(kysely|commander)(\/|$)/;

/** Whether rolldown leaves `id` an import: Node's own modules and every package but the bundled ones. */
export function isExternal(id) {
  return id.startsWith('node:') || (!id.startsWith('.') && !id.startsWith('/') && !BUNDLED.test(id));
}
