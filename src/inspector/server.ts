import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger, type Logger } from '../log.js';
import { PAGE_HTML, PageAssets } from './assets.js';
import { operatorOnly, type Authorize, type InspectorAction } from './authorize.js';
import { HttpError, hostName, isLoopback, readJsonObject, sendError, sendJson, sendText, stringField } from './http-util.js';
import { LiveState, type LiveOptions } from './live.js';
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from './metrics.js';
import type { Registry } from 'prom-client';
import { ActionError, type InspectorSource } from './source.js';
import { bearerToken, InspectorTokens, TokenConfigError } from './tokens.js';

export interface InspectorOptions extends Omit<LiveOptions, 'logger'> {
  source: InspectorSource;
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1; any other address must be asked for explicitly. */
  host?: string;
  logger?: Logger;
  /**
   * The bearer tokens that may act, each with its role. Without them debug actions are
   * off; bound to a non-loopback address the inspector refuses to start without them.
   * A string is one operator token.
   */
  tokens?: InspectorTokens | string;
  /** Which role may do what, given the role of the caller's token; default: the operator role only. */
  authorize?: Authorize;
  /** prom-client registries of nodes in this process (`node.telemetry.metrics.registry`): /metrics adds their families. */
  metrics?: readonly Registry[];
  /** Close the source with the server (default true). */
  closeSource?: boolean;
}

export interface Inspector {
  url: string;
  port: number;
  host: string;
  /** The live state behind the page (for tests and embedding). */
  live: LiveState;
  close(): Promise<void>;
}

const SSE_MAX_BUFFER = 8 * 1024 * 1024;
const KEEPALIVE_MS = 15_000;

/**
 * Serves the inspector: the page, its JSON API, the live stream (Server-Sent Events),
 * Prometheus metrics and health checks, on Node's own http module.
 */
export async function startInspector(options: InspectorOptions): Promise<Inspector> {
  const { source } = options;
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? silentLogger();
  const authorize = options.authorize ?? operatorOnly;
  const tokens = typeof options.tokens === 'string' ? InspectorTokens.single(options.tokens) : options.tokens;
  if (!isLoopback(host) && !tokens) {
    throw new TokenConfigError(`refusing to serve the inspector on ${host} without a token: give --inspect-token or --inspect-token-file (or bind 127.0.0.1)`);
  }
  const live = new LiveState(source, { ...options, logger });
  const assets = new PageAssets();
  if (!assets.available) logger.warn('inspector page modules not found (run `npm run build`); the API still works');
  const streams = new Set<ServerResponse>();
  const loopbackOnly = isLoopback(host);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // DNS rebinding: a page elsewhere must not reach a loopback inspector through a name of its own.
    if (loopbackOnly && !isLoopback(hostName(req.headers.host))) {
      throw new HttpError(403, 'bad_host', `host ${req.headers.host ?? '(none)'} is not this inspector; use 127.0.0.1 or localhost`);
    }
    const url = new URL(req.url ?? '/', 'http://inspector');
    const route = `${req.method} ${url.pathname}`;
    if (url.pathname.startsWith('/app/')) {
      if (req.method !== 'GET') throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname}`);
      const data = assets.module(url.pathname.slice(5));
      if (!data) throw new HttpError(404, 'not_found', `no page module ${url.pathname}`);
      return sendText(res, 200, 'text/javascript; charset=utf-8', data);
    }
    if (url.pathname.startsWith('/vendor/')) {
      const data = req.method === 'GET' ? assets.vendor(url.pathname.slice(8)) : undefined;
      if (!data) throw new HttpError(404, 'not_found', `no such script: ${url.pathname}`);
      return sendText(res, 200, 'text/javascript; charset=utf-8', data);
    }
    switch (route) {
      case 'GET /':
      case 'GET /index.html':
        return sendText(res, 200, 'text/html; charset=utf-8', PAGE_HTML);
      case 'GET /api/tree':
        return sendJson(res, 200, await live.snapshot());
      case 'GET /api/state':
        await live.snapshot();
        return sendJson(res, 200, live.full(false));
      case 'GET /api/stream':
        return openStream(req, res);
      case 'GET /api/actor': {
        const path = url.searchParams.get('path');
        if (!path) throw new HttpError(400, 'missing_parameter', 'give the actor as ?path=/a/b (and &node=NAME on a cluster)');
        const node = url.searchParams.get('node') ?? (await onlyNode(path));
        const detail = await source.detail(node, path);
        if (!detail) throw new HttpError(404, 'unknown_actor', `no actor at ${path} on node ${node}`);
        return sendJson(res, 200, detail);
      }
      case 'POST /api/actions/send':
      case 'POST /api/actions/restart':
      case 'POST /api/actions/stop':
        return act(req, res, url, url.pathname.slice('/api/actions/'.length) as InspectorAction);
      case 'GET /metrics': {
        const tree = await live.snapshot(1000);
        return sendText(res, 200, PROMETHEUS_CONTENT_TYPE, await prometheusText(tree, live.deadLetters, options.metrics ?? []));
      }
      case 'GET /healthz':
        return sendJson(res, 200, { status: 'ok' });
      case 'GET /readyz': {
        const r = source.ready();
        return sendJson(res, r.ok ? 200 : 503, { status: r.ok ? 'ready' : 'not_ready', reason: r.reason });
      }
    }
    const known = ['/', '/api/tree', '/api/state', '/api/stream', '/api/actor', '/metrics', '/healthz', '/readyz'];
    if (known.includes(url.pathname) || url.pathname.startsWith('/api/actions/')) {
      throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname}`);
    }
    throw new HttpError(404, 'not_found', `no such endpoint: ${url.pathname}`);
  };

  /** The node of `path` when only one node hosts it; a clear 4xx otherwise. */
  const onlyNode = async (path: string): Promise<string> => {
    const tree = await live.snapshot(2000);
    const nodes = [...new Set(tree.actors.filter((a) => a.path === path).flatMap((a) => a.nodes))];
    if (nodes.length === 0) throw new HttpError(404, 'unknown_actor', `no actor at ${path}`);
    if (nodes.length > 1) throw new HttpError(400, 'ambiguous_actor', `${path} runs on ${nodes.join(', ')}: say which with node`);
    return nodes[0]!;
  };

  const act = async (req: IncomingMessage, res: ServerResponse, url: URL, action: InspectorAction) => {
    const origin = req.headers.origin;
    if (origin && hostName(new URL(origin).host) !== hostName(req.headers.host)) {
      throw new HttpError(403, 'cross_origin', `actions are refused from another origin (${origin})`);
    }
    const holder = caller(req, action);
    const role = holder.role;
    const body = await readJsonObject(req);
    const path = stringField(body, 'path', true)!;
    const type = action === 'send' ? stringField(body, 'type', true) : undefined;
    const payload = body.payload ?? {};
    if (action === 'send' && (payload === null || typeof payload !== 'object' || Array.isArray(payload))) {
      throw new HttpError(400, 'bad_field', 'field "payload" must be a JSON object');
    }
    const node = stringField(body, 'node', false) ?? (await onlyNode(path));
    const target = { node, path, ...(type !== undefined ? { type } : {}) };
    const audit = { inspector: 'action', who: holder.who, role, action, ...target };
    const verdict = await authorize(role, action, target);
    if (verdict !== true) {
      const why = typeof verdict === 'string' ? verdict : `role ${role} may not ${action} ${path}`;
      logger.warn({ ...audit, outcome: 'forbidden', audit: true }, `inspector refused ${action} on ${path} by ${holder.who}: ${why}`);
      throw new HttpError(403, 'forbidden', why);
    }
    try {
      let result: unknown;
      if (action === 'send') result = await source.send(node, path, type!, payload as Record<string, unknown>);
      else if (action === 'restart') result = await source.restart(node, path);
      else result = (await source.stop(node, path), {});
      live.invalidate();
      logger.info({ ...audit, outcome: 'done', audit: true }, `inspector ${action} ${path}${type ? ` ${type}` : ''} by ${holder.who} (${role})`);
      sendJson(res, 200, { ok: true, action, ...target, ...(result as object) });
    } catch (err) {
      logger.warn({ ...audit, outcome: 'failed', audit: true, err }, `inspector ${action} on ${path} failed: ${(err as Error).message}`);
      throw err;
    }
  };

  /** Who is asking, from the bearer token alone: 401 without one, 403 for one we do not know. */
  const caller = (req: IncomingMessage, action: InspectorAction) => {
    if (!tokens) {
      throw new HttpError(403, 'actions_disabled', 'debug actions are off: start the inspector with --inspect-token or --inspect-token-file');
    }
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) {
      logger.warn({ inspector: 'action', action, outcome: 'unauthenticated', audit: true }, `inspector refused ${action}: no token`);
      throw new HttpError(401, 'unauthorized', `${action} needs the inspector token (send Authorization: Bearer TOKEN)`);
    }
    const holder = tokens.holder(token);
    if (!holder) {
      logger.warn({ inspector: 'action', action, outcome: 'bad_token', audit: true }, `inspector refused ${action}: unknown token`);
      throw new HttpError(403, 'bad_token', 'that token is not one of this inspector\'s tokens');
    }
    return holder;
  };

  const openStream = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 2000\n\nevent: init\ndata: ${JSON.stringify(live.full())}\n\n`);
    streams.add(res);
    const detach = live.attach((json) => {
      // A client that stopped reading is dropped rather than buffered without bound.
      if (res.writableLength > SSE_MAX_BUFFER) return res.destroy();
      res.write(`event: update\ndata: ${json}\n\n`);
    });
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    const done = () => {
      clearInterval(keepalive);
      detach();
      streams.delete(res);
    };
    req.on('close', done);
    res.on('close', done);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError && err.status === 401) res.setHeader('www-authenticate', 'Bearer realm="eldertree inspector"');
      if (err instanceof HttpError || err instanceof ActionError) return sendError(res, err.status, err.code, err.message);
      logger.error({ err }, `inspector request ${req.method} ${req.url} failed`);
      sendError(res, 500, 'internal', (err as Error)?.message ?? String(err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    // Nothing is served: stop sampling before the caller closes the source under it.
    await live.close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ inspector: url }, `inspector on ${url} (${source.label})`);
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    host,
    live,
    close: () =>
      (closing ??= (async () => {
        for (const res of streams) res.end();
        await live.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        if (options.closeSource !== false) await source.close();
      })()),
  };
}
