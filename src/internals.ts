/**
 * `eldertree/internals`: the machinery under the user's API (actor cells, mailboxes,
 * the actor system, supervisors, transports and codecs, leases, placement, membership),
 * for tools, tests and benchmarks. No stability promise: the user's API is `eldertree`.
 */
export * from './actors/index.js';
export * from './supervision/index.js';
export * from './transport/index.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './log.js';
export * from './machines/index.js';
export * from './cluster/index.js';
export * from './security/index.js';
export { freePort, listening } from './net.js';
