/**
 * How many `git http-backend` processes run at once: a clone of a large repository holds one for as
 * long as the pack takes to send, so without a bound a few clients (or one with many connections)
 * could fill the server with git processes. A client is its agent, or its address when anonymous.
 * Over either bound: 429 `rate_limited`, which git reports and a client retries.
 */
import { GitSwarmError } from '../errors.js';
import { KeyedCounts } from '../util/counts.js';

export class GitProcessSlots {
  readonly #perClient = new KeyedCounts();
  #total = 0;

  constructor(
    readonly maxTotal: number,
    readonly maxPerClient: number,
  ) {}

  /** Takes a slot for `client` and returns its release (safe to call more than once), or throws 429. */
  take(client: string): () => void {
    if (this.#perClient.get(client) >= this.maxPerClient) {
      throw new GitSwarmError(
        'rate_limited',
        `At most ${this.maxPerClient} git transfers per client at once on this server.`,
        { hint: 'Wait for your other clones or fetches to finish, then retry.' },
      );
    }
    if (this.#total >= this.maxTotal) {
      throw new GitSwarmError('rate_limited', 'The server is serving as many git transfers as it allows.', {
        hint: 'Retry in a few seconds.',
      });
    }
    this.#total += 1;
    this.#perClient.add(client);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total -= 1;
      this.#perClient.remove(client);
    };
  }

  /** Processes running now (for tests and metrics). */
  get running(): number {
    return this.#total;
  }
}
