export { decodeFrame, encodeEnvelope, DEFAULT_MAX_FRAME_BYTES, type Decoded } from './codec.js';
export { LocalHub, LocalTransport, type LocalTransportOptions } from './local.js';
