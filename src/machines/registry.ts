import type { AnyStateMachine } from 'xstate';
import { counterMachine } from './counter.js';
import { hasherMachine } from './hasher.js';
import { tickerMachine } from './ticker.js';

/** Machines a JSON tree file can name. */
export const machines: Record<string, AnyStateMachine> = {
  counter: counterMachine,
  hasher: hasherMachine,
  ticker: tickerMachine,
};
