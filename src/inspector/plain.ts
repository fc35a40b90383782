/**
 * Turns anything an actor holds (context, payloads) into plain JSON the page can show,
 * within a budget: contexts may hold functions, actor refs, Maps, cycles or megabytes.
 */
export interface PlainBudget {
  depth: number;
  /** Total values visited; past it the rest is elided. */
  nodes: number;
  stringLength: number;
}

const DEFAULT_BUDGET: PlainBudget = { depth: 6, nodes: 1500, stringLength: 2000 };

export function toPlain(value: unknown, budget: Partial<PlainBudget> = {}): unknown {
  const limits = { ...DEFAULT_BUDGET, ...budget };
  let left = limits.nodes;
  const seen = new Set<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (--left < 0) return '…';
    switch (typeof v) {
      case 'string':
        return v.length > limits.stringLength ? `${v.slice(0, limits.stringLength)}… (${v.length} chars)` : v;
      case 'number':
        return Number.isFinite(v) ? v : String(v);
      case 'boolean':
        return v;
      case 'bigint':
        return `${v}n`;
      case 'undefined':
        return null;
      case 'symbol':
        return v.toString();
      case 'function':
        return `[function ${v.name || 'anonymous'}]`;
    }
    if (v === null) return null;
    const obj = v as object;
    if (seen.has(obj)) return '[circular]';
    if (depth >= limits.depth) return Array.isArray(obj) ? `[array(${obj.length})]` : '[object]';
    if (obj instanceof Date) return obj.toISOString();
    if (obj instanceof Error) return { name: obj.name, message: obj.message };
    if (ArrayBuffer.isView(obj)) return `[${obj.constructor.name}(${obj.byteLength} bytes)]`;
    // An XState actor ref in context (spawned children): its id, not its innards.
    const ref = obj as { sessionId?: unknown; id?: unknown; send?: unknown };
    if (typeof ref.send === 'function' && typeof ref.sessionId === 'string') return `[actor ${String(ref.id ?? ref.sessionId)}]`;
    // An object that says how it serialises (a node's own envelope: id and timestamp are getters).
    const json = (obj as { toJSON?: unknown }).toJSON;
    if (typeof json === 'function' && !Array.isArray(obj)) {
      const plain: unknown = json.call(obj);
      if (plain !== obj) return walk(plain, depth);
    }
    seen.add(obj);
    try {
      if (Array.isArray(obj)) return obj.slice(0, 200).map((x) => walk(x, depth + 1)).concat(obj.length > 200 ? [`… ${obj.length - 200} more`] : []);
      if (obj instanceof Map) return Object.fromEntries([...obj].slice(0, 200).map(([k, x]) => [String(k), walk(x, depth + 1)]));
      if (obj instanceof Set) return [...obj].slice(0, 200).map((x) => walk(x, depth + 1));
      const out: Record<string, unknown> = {};
      let n = 0;
      for (const key of Object.keys(obj)) {
        if (++n > 200) {
          out['…'] = `${Object.keys(obj).length - 200} more keys`;
          break;
        }
        out[key] = walk((obj as Record<string, unknown>)[key], depth + 1);
      }
      return out;
    } finally {
      seen.delete(obj);
    }
  };
  return walk(value, 0);
}
