export * from './roles.js';
export { DEFAULT_CERT_ROLES, makeDevCerts, type CertsOptions, type CertsResult } from './certs.js';
export { generateNatsConf, passwordVar, type NatsConfOptions } from './nats-conf.js';
