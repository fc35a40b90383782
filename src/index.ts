/**
 * eldertree: XState v5 actors under Erlang/OTP supervision.
 *
 *   const node = await Node.start({ tree: supervisor('app', {}, [worker('counter', machine)]) });
 *   node.tell('/app/counter', 'inc');
 */
export * from './actors/index.js';
export * from './supervision/index.js';
export * from './transport/index.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './log.js';
export * from './machines/index.js';
export * from './cluster/index.js';
export * from './security/index.js';
export { freePort, listening } from './net.js';
