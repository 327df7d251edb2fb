/**
 * Agent notifications: webhook settings, signatures and delivery. The parts live in
 * src/core/notifications/ (settings, signing, private networks, the dispatcher); this module is
 * their one import path.
 */
export {
  DEFAULT_BASE_DELAY_MS,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_TIMEOUT_MS,
  type NotificationDispatcher,
  type NotificationDispatcherOptions,
  startNotificationDispatcher,
} from './notifications/dispatcher.js';
export { isPrivateTarget } from './notifications/private-networks.js';
export * from './notifications/settings.js';
export * from './notifications/signing.js';
