/**
 * Comparing a connected clone's `--json` output with Mode A's: the same keys and value types at
 * every level (values differ: ids, times). Arrays compare by their elements' shapes.
 */

export type Shape = string | Shape[] | { [key: string]: Shape };

/** The keys and value types of a JSON value; an array is the set of its elements' shapes. */
export function shapeOf(value: unknown): Shape {
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    const shapes = new Map<string, Shape>();
    for (const item of value) {
      const shape = shapeOf(item);
      shapes.set(JSON.stringify(shape), shape);
    }
    return [...shapes.values()];
  }
  if (typeof value === 'object') {
    const out: Record<string, Shape> = {};
    for (const key of Object.keys(value as object).sort())
      out[key] = shapeOf((value as Record<string, unknown>)[key]);
    return out;
  }
  return typeof value;
}
