/**
 * Rows of prepared statements' results, built by a function made once per result shape.
 *
 * `pg` sets each result's columns up anew (a type-parser lookup per column and a template row),
 * then fills every row of every query through one shared loop. In the server's read profile the
 * two took about a tenth of its CPU: the loop sees every shape the server reads, so V8 cannot
 * specialise it. A prepared statement's columns stay the same while it exists, so its shape is
 * kept with it, on its connection, and each row is one object literal of that shape.
 */

/** A column of a result, as `pg` parses PostgreSQL's RowDescription. */
export interface ColumnDescription {
  readonly name: string;
  readonly dataTypeID: number;
  readonly format: string;
}

type Parser = (text: string) => unknown;

export interface TypeParsers {
  getTypeParser(oid: number, format: string): Parser;
}

/** The columns of one result and the function that makes a row of them from their texts. */
export interface RowShape {
  readonly columns: readonly ColumnDescription[];
  build(texts: readonly (string | null)[]): Record<string, unknown>;
}

/**
 * The shape of a result with these columns, or null where an object literal cannot stand for
 * `pg`'s row: binary columns, and a column named `__proto__` (a literal would set the prototype).
 */
export function rowShape(columns: readonly ColumnDescription[], types: TypeParsers): RowShape | null {
  if (columns.some((column) => column.format !== 'text' || column.name === '__proto__')) return null;
  const parsers = columns.map((column) => types.getTypeParser(column.dataTypeID, 'text'));
  // Names become JSON string literals, which JavaScript reads back as the same string: a column
  // name cannot reach the code as anything else. A repeated name keeps its last value, as in `pg`.
  const properties = columns.map(
    (column, i) =>
      `${JSON.stringify(column.name)}: (text = texts[${i}]) === null ? null : parsers[${i}](text)`,
  );
  const build = new Function(
    'parsers',
    `return function build(texts) { let text; return { ${properties.join(', ')} }; };`,
  )(parsers) as RowShape['build'];
  return { columns: [...columns], build };
}

function sameColumns(a: readonly ColumnDescription[], b: readonly ColumnDescription[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as ColumnDescription;
    const y = b[i] as ColumnDescription;
    if (x.name !== y.name || x.dataTypeID !== y.dataTypeID || x.format !== y.format) return false;
  }
  return true;
}

/** One connection's row shapes, by prepared statement name. */
export class RowShapes {
  readonly #byName = new Map<string, RowShape | null>();

  /** The statement's shape; made again when its columns are not those it was made for. */
  shapeOf(name: string, columns: readonly ColumnDescription[], types: TypeParsers): RowShape | null {
    const known = this.#byName.get(name);
    if (known && sameColumns(known.columns, columns)) return known;
    const shape = rowShape(columns, types);
    this.#byName.set(name, shape);
    return shape;
  }

  forget(name: string): void {
    this.#byName.delete(name);
  }

  get size(): number {
    return this.#byName.size;
  }
}

/** What `pg`'s Query is to the class below: its constructor and the members it overrides or uses. */
export interface PgQuery {
  name?: string;
  values?: readonly unknown[];
  callback?: PgQueryConfig['callback'];
  handleRowDescription(message: { fields: ColumnDescription[] }): void;
  handleDataRow(message: { fields: (string | null)[] }): void;
  _canceledDueToError: unknown;
  _result: { _types?: TypeParsers; fields: unknown[]; rows: unknown[] };
}

export interface PgQueryConfig {
  name: string;
  text: string;
  values: readonly unknown[];
  callback: (error: Error | null, result: unknown) => void;
}

export type PgQueryClass = new (config: PgQueryConfig | string) => PgQuery;

/**
 * `pg`'s Query, with the rows of its result built by their shape (kept in `shapes`). One class per
 * Query class, so that every connection's queries share its compiled code.
 */
export function shapedQueryClass(Query: PgQueryClass): ShapedQueryClass {
  let shaped = shapedClasses.get(Query);
  if (!shaped) {
    shaped = makeShapedQueryClass(Query);
    shapedClasses.set(Query, shaped);
  }
  return shaped;
}

const shapedClasses = new WeakMap<PgQueryClass, ShapedQueryClass>();

function makeShapedQueryClass(Query: PgQueryClass) {
  return class ShapedQuery extends Query {
    readonly #shapes: RowShapes;
    readonly #name: string;
    #shape: RowShape | null = null;

    constructor(config: PgQueryConfig, shapes: RowShapes) {
      // Given an object, pg copies it through its property descriptors (1.6 µs of a query's
      // 1.7 µs here); given the text alone it copies nothing, and the rest is set as pg sets it.
      super(config.text);
      this.name = config.name;
      this.values = config.values;
      this.callback = config.callback;
      this.#shapes = shapes;
      this.#name = config.name;
    }

    override handleRowDescription(message: { fields: ColumnDescription[] }): void {
      // The connection gives the result its type parsers when the query is queued.
      const types = this._result._types;
      this.#shape = types ? this.#shapes.shapeOf(this.#name, message.fields, types) : null;
      if (!this.#shape) {
        super.handleRowDescription(message);
        return;
      }
      // One statement has one result: pg's bookkeeping for several is not needed.
      this._result.fields = message.fields;
    }

    override handleDataRow(message: { fields: (string | null)[] }): void {
      if (!this.#shape) {
        super.handleDataRow(message);
        return;
      }
      if (this._canceledDueToError) return;
      try {
        this._result.rows.push(this.#shape.build(message.fields));
      } catch (error) {
        // As `pg` does: the error is reported once the statement has finished.
        this._canceledDueToError = error;
      }
    }
  };
}

export type ShapedQueryClass = ReturnType<typeof makeShapedQueryClass>;
