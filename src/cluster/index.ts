export { ClusterNode, type ClusterNodeOptions, type InspectReply } from './cluster-node.js';
export { ClusterClient } from './client.js';
export { Membership, type Member, type MembershipEvent, type MembershipOptions } from './membership.js';
export { decodeWire, encodeWire, toWire, type WireEvent } from './events-wire.js';
