import type { Store } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import type { EventBus } from './activity/events.js';

/**
 * What every core function needs: the store, a clock and the events bus. The CLI, the server and
 * the MCP server each build one and call the same core functions with it.
 */
export interface CoreDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly events: EventBus;
}
