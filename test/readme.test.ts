import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it, vi } from 'vitest';

// The README's first TypeScript example is test/readme-example.ts, word for word: tsc
// type-checks it (npm test runs tsc over test/), and this test runs it. Docs that drift fail.
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const example = fileURLToPath(new URL('./readme-example.ts', import.meta.url));

it('the README example is test/readme-example.ts, compiles, runs and prints what its comments say', async () => {
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  expect(code!.split('\n').length).toBeLessThanOrEqual(36);
  expect(code).toBe(readFileSync(example, 'utf8'));
  const logs: unknown[][] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void logs.push(args));
  try {
    await import(example);
  } finally {
    spy.mockRestore();
  }
  expect(logs).toContainEqual([{ count: 0 }]);
  expect(logs).toContainEqual(['crashed', '/app/counter']);
  expect(logs).toContainEqual(['dead_letter', 'crashed']);
  expect(logs).toContainEqual(['restarted', '/app/counter']);
  expect(logs.at(-1)).toEqual(['stopped', '/app']);
});
