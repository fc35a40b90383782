import { connect } from '@nats-io/transport-node';
import { expect, it } from 'vitest';
import { startNatsServer } from './nats-server.js';

it('starts a real nats-server with JetStream on a free loopback port and stops it by PID', async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  const info = nc.info!;
  expect(info.jetstream).toBe(true);
  await nc.close();
  const pid = server.pid;
  await server.stop();
  expect(() => process.kill(pid, 0)).toThrow();
});
