export { decodeFrame, encodeEnvelope, DEFAULT_MAX_FRAME_BYTES, type Decoded } from './codec.js';
export { LocalHub, LocalTransport, type LocalTransportOptions } from './local.js';
export { NatsTransport, type NatsTransportOptions } from './nats.js';
export { subjects, isActorPath, type Subjects } from './subjects.js';
export { DEFAULT_RETRY, type OutboxCounts, type RetryPolicy } from './outbox.js';
