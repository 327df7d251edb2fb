/**
 * Agent notifications: webhook settings, signatures and delivery. The parts live beside this
 * module (settings, signing, fan-out, address checks, the queue, circuits, the dispatcher); it is
 * their one import path.
 */
export * from './blocked-addresses.js';
export * from './circuits.js';
export * from './dispatcher.js';
export * from './fan-out.js';
export * from './post-webhook.js';
export * from './resolve-target.js';
export * from './settings.js';
export * from './signing.js';
