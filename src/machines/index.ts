export { counterMachine } from './counter.js';
export { hasherMachine } from './hasher.js';
export { tickerMachine, type TickerInput } from './ticker.js';
export { demoTree } from './demo-tree.js';
export { machines } from './registry.js';
export { loadTreeFile, TreeFileError } from './tree-file.js';
export * from './elder-tree/index.js';
// Roles live in the security layer, below the machines; re-exported here until the package index exports them.
export * from '../security/roles.js';
