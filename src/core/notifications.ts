/**
 * Agent notifications: webhook settings, signatures and delivery. The parts live in
 * src/core/notifications/ (settings, signing, fan-out, address checks, the queue, circuits, the
 * dispatcher); this module is their one import path.
 */
export * from './notifications/blocked-addresses.js';
export * from './notifications/circuits.js';
export * from './notifications/dispatcher.js';
export * from './notifications/fan-out.js';
export * from './notifications/post-webhook.js';
export * from './notifications/resolve-target.js';
export * from './notifications/settings.js';
export * from './notifications/signing.js';
