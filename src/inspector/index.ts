/**
 * The live inspector: one self-hosted page and API over a node or a whole cluster.
 *
 *   const inspector = await startInspector({ source: new LocalSource(node), port: 7070 });
 *   // http://127.0.0.1:7070 ... await inspector.close();
 */
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { Logger } from '../log.js';
import type { Node } from '../supervision/node.js';
import { InspectorAgent } from './agent.js';
import type { Authorize } from './authorize.js';
import type { InspectorTokens } from './tokens.js';
import { ClusterSource } from './cluster-source.js';
import { LocalSource } from './local-source.js';
import { startInspector } from './server.js';

export { startInspector, type Inspector, type InspectorOptions } from './server.js';
export { LocalSource, checkEventType } from './local-source.js';
export { ClusterSource, type ClusterSourceOptions } from './cluster-source.js';
export { InspectorAgent, WATCH_LEASE_MS } from './agent.js';
export { ActionError, type InspectorSource, type NodeSample, type SourceEvent } from './source.js';
export { operatorOnly, type ActionTarget, type Authorize, type InspectorAction } from './authorize.js';
export { InspectorTokens, TokenConfigError, bearerToken, MIN_TOKEN_LENGTH, type TokenHolder } from './tokens.js';
export { prometheusText, PROMETHEUS_CONTENT_TYPE } from './metrics.js';
export { statechartOf, activePaths, enabledEvents, type Statechart } from './statechart.js';
export { mergeTree, treePrefixes, type PlacedActor } from './tree.js';
export type * from './protocol.js';

export interface RuntimeInspectorOptions {
  node: Node;
  /** Set when the node joined a cluster: the page shows every node, and this node answers other inspectors. */
  cluster?: ClusterNode;
  /** Serve the page on this port (0: a free one); undefined serves nothing (the agent still answers on NATS). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  logger?: Logger;
  /** Bearer tokens for debug actions (required off loopback). */
  tokens?: InspectorTokens;
  authorize?: Authorize;
}

export interface RuntimeInspector {
  /** The page's address, when served. */
  url: string | undefined;
  close(): Promise<void>;
}

/**
 * The one call runtime.ts makes after the node starts. On NATS it always attaches the
 * inspector agent (one subscription; tracing only while an inspector pulls), so any
 * inspector in the cluster sees this node's statecharts; with a port it also serves
 * the page: every node of the cluster on NATS, this node alone on the embedded transport.
 */
export async function startRuntimeInspector(options: RuntimeInspectorOptions): Promise<RuntimeInspector> {
  const local = new LocalSource(options.node);
  const agent = options.cluster ? InspectorAgent.attach(options.cluster, local, options.logger) : undefined;
  const server =
    options.port === undefined
      ? undefined
      : await startInspector({
          source: options.cluster ? ClusterSource.forNode(options.cluster, local) : local,
          port: options.port,
          ...(options.host !== undefined ? { host: options.host } : {}),
          ...(options.logger ? { logger: options.logger } : {}),
          ...(options.tokens ? { tokens: options.tokens } : {}),
          ...(options.node.telemetry?.metrics ? { metrics: [options.node.telemetry.metrics.registry] } : {}),
          ...(options.authorize ? { authorize: options.authorize } : {}),
        }).catch(async (err: unknown) => {
          agent?.close();
          await local.close();
          throw err;
        });
  return {
    url: server?.url,
    close: async () => {
      await server?.close();
      agent?.close();
      await local.close();
    },
  };
}
