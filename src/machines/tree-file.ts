import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EldertreeError } from '../actors/errors.js';
import type { SupervisorSpec } from '../supervision/spec.js';
import { machines } from './registry.js';

/** A tree file that cannot be read; the message names the file and the problem. */
export class TreeFileError extends EldertreeError {
  override name = 'TreeFileError';
}

/**
 * Loads a tree: a JS module whose default export (or `tree` export) is a supervisor
 * spec, or a JSON file whose workers name their machine from the registry
 * (`"machine": "counter"`). Validation of the tree itself is validateTree's job.
 */
export async function loadTreeFile(file: string): Promise<SupervisorSpec> {
  const path = resolve(file);
  const ext = extname(path);
  if (ext === '.json') return fromJson(path);
  if (ext !== '.js' && ext !== '.mjs') {
    throw new TreeFileError(`${file}: a tree file must be .json, .js or .mjs, not "${ext || 'no extension'}"`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof SyntaxError) throw new TreeFileError(`${syntaxErrorAt(file, path) ?? `${file}:`} ${err.name}: ${err.message}`);
    throw new TreeFileError(`${file}: cannot load module: ${(err as Error).message}`);
  }
  const tree = mod.default ?? mod.tree;
  if (tree === undefined) throw new TreeFileError(`${file}: exports neither a default nor "tree" supervisor spec`);
  return (typeof tree === 'function' ? (tree as () => unknown)() : tree) as SupervisorSpec;
}

/**
 * `file:line:col:` of a syntax error. import() does not tell where it is; `node --check`
 * does (`path:LINE`, the line, then carets under the culprit), so ask it.
 */
function syntaxErrorAt(file: string, path: string): string | undefined {
  const check = spawnSync(process.execPath, ['--check', path], { encoding: 'utf8', timeout: 10_000 });
  const lines = (check.stderr ?? '').split('\n');
  const at = lines.findIndex((l) => l.startsWith(`${path}:`));
  const line = at >= 0 ? /:(\d+)$/.exec(lines[at]!)?.[1] : undefined;
  if (line === undefined) return undefined;
  const caret = lines[at + 2]?.indexOf('^') ?? -1;
  return `${file}:${line}:${caret >= 0 ? caret + 1 : 1}:`;
}

async function fromJson(path: string): Promise<SupervisorSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new TreeFileError(`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let tree: unknown;
  try {
    tree = JSON.parse(text);
  } catch (err) {
    throw new TreeFileError(`${path}:${lineCol(text, jsonErrorOffset(text, (err as Error).message))}: not valid JSON: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  resolveMachines(tree, '', problems);
  if (problems.length) throw new TreeFileError(`${path}:\n  ${problems.join('\n  ')}`);
  return tree as SupervisorSpec;
}

/** Where JSON.parse stopped, from its message (V8 names a position or quotes ±10 chars around it). */
function jsonErrorOffset(text: string, message: string): number {
  const at = /at position (\d+)/.exec(message);
  if (at) return Number(at[1]);
  if (/end of JSON input/.test(message)) return text.length;
  const quoted = /Unexpected token '(.+?)', (\.\.\.)?"([\s\S]*?)(\.\.\.)?" is not valid JSON/.exec(message);
  if (quoted) {
    const [, token, cut, snippet] = quoted;
    const start = text.indexOf(snippet!);
    if (start >= 0) return cut ? start + 10 : start + Math.max(0, snippet!.indexOf(token!));
  }
  return 0;
}

function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${before[before.length - 1]!.length + 1}`;
}

function resolveMachines(node: unknown, parent: string, problems: string[]): void {
  if (node === null || typeof node !== 'object') return;
  const spec = node as Record<string, unknown>;
  const path = `${parent}/${String(spec.id ?? '?')}`;
  if (Array.isArray(spec.children)) {
    for (const child of spec.children) resolveMachines(child, path, problems);
  } else if (spec.type === undefined || spec.type === 'worker') {
    const name = spec.machine;
    if (typeof name !== 'string' || !(name in machines)) {
      problems.push(`${path}: machine must be one of ${Object.keys(machines).join(', ')}; got ${JSON.stringify(name)}`);
    } else {
      spec.machine = machines[name];
    }
  }
}
