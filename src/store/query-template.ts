/**
 * Query templates: a query built and compiled once per store, then run with new arguments.
 * Building and compiling a Kysely query costs more than running a small one (the housekeeping
 * query every command makes: about a quarter of a millisecond to compile, a tenth to run), and a
 * long-lived process (the command server, the HTTP server) runs the same ones over and over.
 *
 * The arguments are strings, or null, bound as parameters: the template is compiled with a marker
 * in each argument's place, and each run binds the parameters with the markers replaced.
 */
import type { Compilable, CompiledQuery } from 'kysely';
import type { Executor } from './transaction.js';

/** A run's arguments: each name's string, or null (a nullable column's value). */
export type TemplateArgs<Name extends string> = Readonly<Record<Name, string | null>>;

/** Runs the template's query on `db` with `args`; answers its rows. */
export interface QueryTemplate<Name extends string, Row> {
  (db: Executor, args: TemplateArgs<Name>): Promise<Row[]>;
  /** The query with `args` bound, to run with others (batch.ts). */
  bind(db: Executor, args: TemplateArgs<Name>): Compilable<Row>;
}

interface Compiled<Name extends string, Row> {
  query: CompiledQuery<Row>;
  /** For each parameter, the argument bound there, or undefined for a constant of the query. */
  slots: (Name | undefined)[];
}

/** A NUL cannot reach a parameter from our callers (ids, timestamps), so a marker is unambiguous. */
const marker = (name: string) => `\u0000query-template:${name}\u0000`;

/**
 * A template of the query `build` makes from `names`' arguments. Each argument must reach the
 * query as a whole parameter (`where('id', '=', id)`), not inside a larger value or the SQL text:
 * the first run checks this and throws otherwise.
 */
export function queryTemplate<const Name extends string, Row>(
  names: readonly Name[],
  build: (db: Executor, args: Readonly<Record<Name, string>>) => Compilable<Row>,
): QueryTemplate<Name, Row> {
  // Per dialect and plugins: a store's Kysely and its transactions share both, so they share the
  // compiled query; another store, or the same with other plugins, compiles its own.
  const compiledFor = new WeakMap<object, { plugins: readonly unknown[]; compiled: Compiled<Name, Row> }[]>();
  const compile = (db: Executor): Compiled<Name, Row> => {
    const markers = Object.fromEntries(names.map((name) => [name, marker(name)])) as Record<Name, string>;
    const query = build(db, markers).compile();
    if (query.sql.includes('\u0000')) throw new Error('queryTemplate: an argument reached the SQL text.');
    const byMarker = new Map<unknown, Name>(names.map((name) => [markers[name], name]));
    const slots = query.parameters.map((value) => byMarker.get(value));
    const unbound = names.filter((name) => !slots.includes(name));
    if (unbound.length > 0) {
      throw new Error(`queryTemplate: ${unbound.join(', ')} must be bound as whole parameters.`);
    }
    return { query, slots };
  };
  const compiledOn = (db: Executor): Compiled<Name, Row> => {
    const executor = db.getExecutor();
    const { adapter, plugins } = executor;
    let entries = compiledFor.get(adapter);
    if (!entries) {
      entries = [];
      compiledFor.set(adapter, entries);
    }
    let entry = entries.find((candidate) => samePlugins(candidate.plugins, plugins));
    if (!entry) {
      entry = { plugins: [...plugins], compiled: compile(db) };
      entries.push(entry);
    }
    return entry.compiled;
  };
  const bound = (db: Executor, args: TemplateArgs<Name>): CompiledQuery<Row> => {
    const { query, slots } = compiledOn(db);
    const parameters = query.parameters.map((value, i) => {
      const name = slots[i];
      return name === undefined ? value : args[name];
    });
    return { ...query, parameters };
  };
  const run = async (db: Executor, args: TemplateArgs<Name>): Promise<Row[]> =>
    (await db.executeQuery<Row>(bound(db, args))).rows;
  return Object.assign(run, {
    bind: (db: Executor, args: TemplateArgs<Name>): Compilable<Row> => ({
      compile: () => bound(db, args),
    }),
  });
}

function samePlugins(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((plugin, i) => plugin === b[i]);
}
