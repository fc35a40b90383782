import { supervisor, worker, type SupervisorSpec } from '../supervision/spec.js';
import { counterMachine } from './counter.js';
import { hasherMachine } from './hasher.js';
import { tickerMachine } from './ticker.js';

/** The tree `node dist/runtime.js` runs when given none: small, but visibly alive. */
export function demoTree(options: { crashes?: boolean } = {}): SupervisorSpec {
  return supervisor('demo', { strategy: 'one_for_one', intensity: 5, period: 10_000 }, [
    worker('counter', counterMachine),
    worker('hasher', hasherMachine),
    supervisor('workers', { strategy: 'rest_for_one', intensity: 3, period: 5000 }, [
      worker('flaky', counterMachine, { backoff: { initial: 50, max: 2000 } }),
      worker('ticker', tickerMachine, {
        input: {
          every: 1000,
          target: '/demo/counter',
          ...(options.crashes === false ? {} : { crashEvery: 7, crashTarget: '/demo/workers/flaky' }),
        },
      }),
    ]),
  ]);
}
