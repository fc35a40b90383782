/**
 * The Elder Tree's kinds at the node boundary, over a real nats-server: a message from
 * the wire that does not fit its elder's schema is a `malformed` dead letter naming the
 * field, an ask of it is rejected with the reason, and what fits is processed as before.
 */
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { AskRejectedError, ClusterClient, type DeadLetterEvent } from '../src/index.js';
import { NatsTransport } from '../src/internals.js';
import { ELDER_PATHS, TaskSage, type Answer } from '../src/machines/elder-tree/index.js';
import { startTree, until } from './elder-helpers.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

describe('Elder Tree schemas at the node boundary (real nats-server)', () => {
  let server: NatsServer;
  let tree: Awaited<ReturnType<typeof startTree>>;
  let client: ClusterClient;

  beforeAll(async () => {
    server = await startNatsServer();
    tree = await startTree({ servants: 1, node: { nodeId: 'schemas', transport: new NatsTransport({ servers: server.url }) } });
    client = await ClusterClient.connect({ servers: server.url });
  });
  afterAll(async () => {
    await client?.close();
    await tree?.stop();
    await server?.stop();
  });

  const malformed = () => tree.deadLetters().filter((d) => d.reason === 'malformed');
  const lastMalformed = async (n: number): Promise<DeadLetterEvent> => {
    await until(`${n} malformed dead letter(s)`, () => malformed().length >= n);
    return malformed()[n - 1]!;
  };

  it('a tell that does not fit is a malformed dead letter naming the field; the elder never sees it', async () => {
    const before = tree.node.system.cell(ELDER_PATHS.task)!.processed;
    client.tell(ELDER_PATHS.task, 'sage.task.submit', { title: 42, handler: 'hash' });
    const dead = await lastMalformed(1);
    expect(dead.detail).toBe('/grand-elder/claude-elder/task-sage refuses sage.task.submit: title: Invalid input: expected string, received number');
    expect(dead.envelope?.message_type).toBe('sage.task.submit');
    expect(dead.envelope?.target_elder).toBe(ELDER_PATHS.task);
    expect(tree.node.system.cell(ELDER_PATHS.task)!.processed).toBe(before);
  });

  it('an ask that does not fit is rejected with the reason (a report of a kind without its fields, too)', async () => {
    const missing = await client.ask(ELDER_PATHS.task, 'sage.task.submit', { title: 'Hash it' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(AskRejectedError);
    expect((missing as AskRejectedError).reason).toBe('malformed');
    expect((missing as Error).message).toMatch(/sage\.task\.submit: handler: Invalid input: expected string, received undefined/);

    const report = await client.ask(ELDER_PATHS.task, 'report.to_sage', { kind: 'ready' }).catch((e: unknown) => e);
    expect((report as AskRejectedError).reason).toBe('malformed');
    expect((report as Error).message).toMatch(/report\.to_sage: servant: Invalid input/);

    // The grand elder checks what it hands on with the schema of the elder that takes it.
    const forwarded = await client.ask(ELDER_PATHS.commander, 'development.task.submit', { title: ['not', 'text'] }).catch((e: unknown) => e);
    expect((forwarded as AskRejectedError).reason).toBe('malformed');
    expect((forwarded as Error).message).toMatch(/\/grand-elder\/commander refuses development\.task\.submit: title: Invalid input: expected string, received array/);

    // Mail to a supervisor's path is checked with its agent's schemas (the README's CLI entry for tasks).
    const viaSupervisor = await client.ask(ELDER_PATHS.claudeElder, 'development.task.submit', { title: 42 }).catch((e: unknown) => e);
    expect((viaSupervisor as AskRejectedError).reason).toBe('malformed');
    expect((viaSupervisor as Error).message).toMatch(/^\/grand-elder\/claude-elder refuses development\.task\.submit: title: Invalid input: expected string, received number/);
  });

  it('a local sender is checked by the compiler, not the schema: the elder still refuses bad input itself', async () => {
    const refused = malformed().length;
    const taskSage = tree.node.ref('/grand-elder/claude-elder/task-sage');
    expect(taskSage.kind).toBe('task-sage');
    expect(await taskSage.ask({ type: 'sage.task.status', id: 'nope' })).toMatchObject({ ok: false });
    // The string layer compiles anything; the task sage answers with its own reason.
    expect(await tree.node.ask(ELDER_PATHS.task, 'sage.task.submit', { title: 42, handler: 'hash' })).toEqual({ ok: false, error: 'title must be a string, got number 42' });
    expect(malformed()).toHaveLength(refused);
  });

  it('what fits is processed as before, through a typed reference from outside the tree', async () => {
    const taskSage = client.ref(TaskSage, ELDER_PATHS.task);
    const queued = await taskSage.ask({ type: 'sage.task.submit', title: 'Hash the notes', handler: 'hash', input: { data: 'notes' } });
    expectTypeOf(queued).toEqualTypeOf<Answer<{ id: string; status: 'queued'; position: number; paused: boolean }>>();
    expect(queued).toMatchObject({ ok: true, status: 'queued' });
    const id = queued.ok ? queued.id : '';
    await until('the task to complete', async () => {
      const status = await taskSage.ask({ type: 'sage.task.status', id });
      return status.ok && status.task.status === 'completed';
    });
    // Limits and unknown ids are still the elder's own, readable refusals.
    expect(await taskSage.ask({ type: 'sage.task.status', id: 'nope' })).toEqual({
      ok: false,
      error: 'unknown task id "nope" (finished tasks are kept for the last 200)',
    });
    expect(await taskSage.ask({ type: 'sage.task.submit', title: 'x', handler: 'hash', priority: 12 })).toEqual({ ok: false, error: 'priority must be from 0 to 9, got 12' });
  });
});
