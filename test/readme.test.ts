import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it, vi } from 'vitest';

// The README's TypeScript example runs as written: docs that drift fail here.
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const file = fileURLToPath(new URL('./.readme-example.ts', import.meta.url));
afterAll(() => rmSync(file, { force: true }));

it('the README example runs and prints what its comments say', async () => {
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  expect(code!.split('\n').length).toBeLessThanOrEqual(32);
  writeFileSync(file, code!);
  const logs: unknown[][] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void logs.push(args));
  try {
    await import(file);
  } finally {
    spy.mockRestore();
  }
  expect(logs).toContainEqual([{ count: 0 }]);
  expect(logs).toContainEqual(['crashed', '/app/counter']);
  expect(logs).toContainEqual(['dead_letter', 'crashed']);
  expect(logs).toContainEqual(['restarted', '/app/counter']);
  expect(logs.at(-1)).toEqual(['stopped', '/app']);
});
