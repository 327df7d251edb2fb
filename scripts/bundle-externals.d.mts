/** Whether the bundles leave `id` an ordinary import (scripts/bundle-externals.mjs). */
export function isExternal(id: string): boolean;
