export { counterMachine } from './counter.js';
export { hasherMachine } from './hasher.js';
export { tickerMachine, type TickerInput } from './ticker.js';
export { demoTree } from './demo-tree.js';
export { machines } from './registry.js';
export { loadTreeFile, TreeFileError } from './tree-file.js';
export * from './elder-tree/index.js';
