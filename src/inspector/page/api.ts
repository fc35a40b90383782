import type { ActorDetail, ApiError } from '../protocol.js';

/** The page's calls to the inspector API; errors carry the server's sentence. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function parse<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({ error: 'bad_reply', message: `HTTP ${res.status}` }))) as T | ApiError;
  if (!res.ok) {
    const e = body as ApiError;
    throw new ApiFailure(res.status, e.error ?? 'error', e.message ?? `HTTP ${res.status}`);
  }
  return body as T;
}

export async function fetchDetail(node: string, path: string): Promise<ActorDetail> {
  const q = new URLSearchParams({ node, path });
  return parse<ActorDetail>(await fetch(`/api/actor?${q}`));
}

/** A debug action, sent with the inspector token (the server derives the role from it). */
export async function act(
  action: 'send' | 'restart' | 'stop',
  token: string | undefined,
  body: { node: string; path: string; type?: string; payload?: unknown },
): Promise<Record<string, unknown>> {
  const res = await fetch(`/api/actions/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return parse<Record<string, unknown>>(res);
}
