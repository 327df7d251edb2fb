/**
 * What a command line names before commander parses it: read by the command server's client (which
 * must decide without loading the CLI) and by the program (which registers only the noun it needs).
 */

/** Global options that take a value (so the word after them is not the command). */
const VALUE_OPTIONS = new Set(['--as', '--server', '--api-key']);

/** The command line's noun (`agent` in `gitswarm --as x agent list`), or undefined when it has none. */
export function commandNoun(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] as string;
    if (VALUE_OPTIONS.has(word)) i++;
    else if (!word.startsWith('-')) return word;
  }
  return undefined;
}

/** Whether the command line asks for help anywhere (`-h`, `--help`). */
export function asksForHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}
