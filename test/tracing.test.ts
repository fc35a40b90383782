// OpenTelemetry traces across nodes: two nodes on their own NatsTransports over a real
// nats-server, the SDK's in-memory exporter registered as the application would.
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { entities, NatsTransport, Node, reply, runtimeOf, supervisor, worker } from '../src/internals.js';
import { parsePrometheus } from './inspector-fixtures.js';
import { Cart } from './fixtures/cart.js';
import { encodeBatch, fromRows } from '../src/transport/codec.js';
import { validateEnvelope, type Envelope } from '../src/actors/envelope.js';
import { formatTraceparent, parseTraceparent, tracerProviderRegistered } from '../src/telemetry/index.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

/** On `work`: tells /a/y a note and answers; stays `busy` after the first. */
const xMachine = setup({
  actions: {
    note: ({ system }) => runtimeOf(system).tell('/a/y', 'note'),
    answer: reply(() => ({ done: true })),
  },
}).createMachine({
  id: 'x',
  initial: 'idle',
  states: {
    idle: { on: { work: { target: 'busy', actions: ['note', 'answer'] } } },
    busy: { on: { work: { actions: ['note', 'answer'] } } },
  },
});

const yMachine = setup({ types: { context: {} as { notes: number } } }).createMachine({
  id: 'y',
  context: { notes: 0 },
  on: { note: { actions: assign({ notes: ({ context }) => context.notes + 1 }) } },
});

const exporter = new InMemorySpanExporter();
let server: NatsServer;

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  trace.disable();
  context.disable();
  propagation.disable();
  await server?.stop();
});

const startNodes = async () => {
  const a = await Node.start({
    tree: supervisor('a', {}, [worker('y', yMachine)]),
    nodeId: 'na',
    transport: new NatsTransport({ servers: server.url }),
  });
  const b = await Node.start({
    tree: supervisor('b', {}, [worker('x', xMachine)]),
    nodeId: 'nb',
    transport: new NatsTransport({ servers: server.url }),
  });
  return { a, b, stop: () => Promise.all([a.stop(), b.stop()]) };
};

const attr = (s: ReadableSpan, k: string) => s.attributes[k];
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

describe('tracing', () => {
  it('with no SDK registered it stays off: no observer, no traceparent on the wire', async () => {
    expect(tracerProviderRegistered()).toBe(false);
    const { a, b, stop } = await startNodes();
    try {
      expect(a.telemetry).toBeUndefined();
      expect(a.system.observer).toBeUndefined();
      const seen: Envelope[] = [];
      b.system.trace = (_cell, envelope) => seen.push(envelope);
      expect(await a.ask('/b/x', 'work')).toEqual({ done: true });
      expect(seen).toHaveLength(1);
      expect(seen[0]!.traceparent).toBeUndefined();
    } finally {
      await stop();
    }
  });

  it('one trace covers an ask from node A through an actor on node B that tells a third actor on A', async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    expect(tracerProviderRegistered()).toBe(true);
    const { a, b, stop } = await startNodes();
    try {
      expect(a.telemetry?.tracer).toBeDefined();
      expect(b.telemetry?.tracer).toBeDefined();
      exporter.reset();
      expect(await a.ask('/b/x', 'work', {}, { timeout: 10_000 })).toEqual({ done: true });
      await expect.poll(() => exporter.getFinishedSpans().filter((s) => s.name === 'process /a/y').length, { timeout: 10_000 }).toBe(1);
      const spans = exporter.getFinishedSpans();
      const one = (name: string) => {
        const found = spans.filter((s) => s.name === name);
        expect(found, `${name} in ${spans.map((s) => s.name).join(', ')}`).toHaveLength(1);
        return found[0]!;
      };
      const ask = one('ask /b/x');
      const processX = one('process /b/x');
      const sendNote = one('send /a/y');
      const processY = one('process /a/y');
      const sendReply = one('reply');
      // One trace, parent/child links right.
      const traceId = ask.spanContext().traceId;
      for (const s of [processX, sendNote, processY, sendReply]) expect(s.spanContext().traceId).toBe(traceId);
      expect(parentOf(ask)).toBeUndefined();
      expect(parentOf(processX)).toBe(ask.spanContext().spanId);
      expect(parentOf(sendNote)).toBe(processX.spanContext().spanId);
      expect(parentOf(sendReply)).toBe(processX.spanContext().spanId);
      expect(parentOf(processY)).toBe(sendNote.spanContext().spanId);
      // Kinds and attributes after the messaging conventions.
      expect(ask.kind).toBe(SpanKind.CLIENT);
      expect(processX.kind).toBe(SpanKind.CONSUMER);
      expect(sendNote.kind).toBe(SpanKind.PRODUCER);
      expect(ask.attributes).toMatchObject({
        'messaging.system': 'eldertree',
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'ask',
        'messaging.destination.name': '/b/x',
        'messaging.destination.template': '/b/x',
        'eldertree.node': 'na',
        'eldertree.ask.outcome': 'reply',
      });
      const conversation = attr(ask, 'messaging.message.conversation_id');
      expect(conversation).toBe(attr(ask, 'messaging.message.id'));
      expect(processX.attributes).toMatchObject({
        'messaging.system': 'eldertree',
        'messaging.operation.type': 'process',
        'messaging.destination.name': '/b/x',
        'messaging.consumer.group.name': 'actors',
        'messaging.message.conversation_id': conversation,
        'messaging.message.id': conversation,
        'eldertree.message.type': 'work',
        'eldertree.node': 'nb',
        'eldertree.state.before': '"idle"',
        'eldertree.state.after': '"busy"',
      });
      expect(sendReply.attributes).toMatchObject({
        'messaging.operation.name': 'reply',
        'messaging.destination.temporary': true,
        'messaging.message.conversation_id': conversation,
      });
      expect(sendNote.attributes).toMatchObject({ 'messaging.operation.type': 'send', 'messaging.operation.name': 'send', 'messaging.destination.template': '/a/y', 'eldertree.node': 'nb' });
      expect(processY.attributes).toMatchObject({ 'eldertree.node': 'na', 'eldertree.message.type': 'note', 'eldertree.state.before': '{}' });
      expect(processY.status.code).toBe(SpanStatusCode.UNSET);
      expect(await a.ask('/a/y', 'nothing.here').catch((e: Error) => e.message)).toContain('does not handle');
      await expect
        .poll(() => exporter.getFinishedSpans().find((s) => s.name === 'process /a/y' && s.status.code === SpanStatusCode.ERROR)?.status.message)
        .toBe('not handled in this state');
      await expect.poll(() => exporter.getFinishedSpans().find((s) => s.name === 'ask /a/y')?.attributes['eldertree.ask.outcome']).toBe('error');
    } finally {
      await stop();
    }
  });

  it('an acked tell carries the trace to the other node (resends reuse the envelope, so its traceparent)', async () => {
    const { a, b, stop } = await startNodes();
    try {
      exporter.reset();
      const tracer = trace.getTracer('test');
      await tracer.startActiveSpan('outer', async (outer) => {
        b.tell('/a/y', 'note', {}, { requiresAck: true });
        outer.end();
      });
      await expect.poll(() => exporter.getFinishedSpans().some((s) => s.name === 'process /a/y'), { timeout: 10_000 }).toBe(true);
      const spans = exporter.getFinishedSpans();
      const outer = spans.find((s) => s.name === 'outer')!;
      const send = spans.find((s) => s.name === 'send /a/y')!;
      const processY = spans.find((s) => s.name === 'process /a/y')!;
      expect(parentOf(send)).toBe(outer.spanContext().spanId);
      expect(parentOf(processY)).toBe(send.spanContext().spanId);
      expect(processY.spanContext().traceId).toBe(outer.spanContext().traceId);
    } finally {
      await stop();
    }
  });
});

describe('entities: bounded labels and templates', () => {
  it('metrics label an entity by its region and spans name its kind and region, never its key', async () => {
    // The SDK registered above is still the global provider: tracing is on too.
    const node = await Node.start({ tree: supervisor('app', {}, [entities('carts', Cart)]), nodeId: 'ne', telemetry: { metrics: true } });
    try {
      exporter.reset();
      for (let i = 0; i < 20; i++) node.entity(Cart, `user-${i}`).tell({ type: 'add', item: 'tea' });
      expect(await node.entity(Cart, 'user-3').ask({ type: 'get' })).toMatchObject({ key: 'user-3', items: ['tea'] });
      await node.settled();
      const { samples, types } = parsePrometheus(await node.telemetry!.metrics!.registry.metrics());
      expect(types.get('eldertree_message_processing_seconds')).toBe('histogram');
      const processed = samples.filter((s) => s.name === 'eldertree_node_messages_processed_total');
      expect(processed.find((s) => s.labels.supervisor === '/app/carts')?.value).toBe(21);
      expect(samples.find((s) => s.name === 'eldertree_message_processing_seconds_count' && s.labels.supervisor === '/app/carts')?.value).toBe(21);
      expect(samples.find((s) => s.name === 'eldertree_ask_duration_seconds_count')?.labels).toEqual({ destination: 'cart', node: 'ne' });
      expect(samples.find((s) => s.name === 'eldertree_live_actors' && s.labels.supervisor === '/app/carts')?.value).toBe(20);
      // No label value names a key.
      expect(samples.some((s) => Object.values(s.labels).some((v) => v.includes('user-')))).toBe(false);
      const spans = exporter.getFinishedSpans();
      expect(spans.filter((s) => s.name === 'send cart')).toHaveLength(20);
      expect(spans.filter((s) => s.name === 'process /app/carts')).toHaveLength(21);
      const p = spans.find((s) => s.name === 'process /app/carts' && s.attributes['messaging.destination.name'] === '/app/carts/user-3' && s.attributes['eldertree.message.type'] === 'get')!;
      expect(p.attributes['messaging.destination.template']).toBe('/app/carts');
      expect(spans.find((s) => s.name === 'ask cart')!.attributes['messaging.destination.name']).toBe('cart/user-3');
      expect(parentOf(p)).toBe(spans.find((s) => s.name === 'ask cart')!.spanContext().spanId);
    } finally {
      await node.stop();
    }
  });
});

describe('traceparent on the wire', () => {
  const base: Envelope = {
    message_id: 'm1',
    source_elder: '/a',
    target_elder: '/b',
    message_type: 't',
    payload: {},
    priority: 5,
    timestamp: 1,
    requires_ack: false,
    seq: 1,
  };

  it('formats and parses W3C traceparent; malformed or all-zero ids are ignored', () => {
    const sc = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
    expect(formatTraceparent(sc)).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')).toMatchObject({ ...sc, isRemote: true });
    expect(parseTraceparent('00-00000000000000000000000000000000-b7ad6b7169203331-01')).toBeUndefined();
    expect(parseTraceparent('garbage')).toBeUndefined();
  });

  it('rows frames carry it only when an envelope has it; a non-string one is dropped, the message kept', () => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const plain = unpack(encodeBatch([base])) as { keys: string[] };
    expect(plain.keys).not.toContain('traceparent');
    const traced = fromRows(unpack(encodeBatch([base, { ...base, message_id: 'm2', traceparent: tp }])) as Record<string, unknown>);
    expect(traced.ok && traced.items.map((i) => i.traceparent)).toEqual([undefined, tp]);
    const odd = validateEnvelope({ ...base, traceparent: 42 });
    expect(odd.ok).toBe(true);
    expect(odd.ok && odd.envelope.traceparent).toBeUndefined();
  });
});
