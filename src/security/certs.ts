import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertsOptions {
  /** Where the files go (created if missing). */
  dir: string;
  /** One client certificate per role, CN = role (default: the Elder Tree roles). */
  roles?: string[];
  /** Names the server certificate is valid for (default localhost and 127.0.0.1). */
  hosts?: string[];
  days?: number;
}

export interface CertsResult {
  ca: { cert: string; key: string };
  server: { cert: string; key: string };
  clients: Record<string, { cert: string; key: string }>;
}

export const DEFAULT_CERT_ROLES = ['grand-elder', 'claude-elder', 'sage', 'servant', 'operator'];

/**
 * A development PKI with openssl: a CA, a server certificate for nats-server and a
 * client certificate per role (CN = role), P-256 keys. For production, bring your own
 * CA; the runtime only needs --tls-cert, --tls-key and --tls-ca.
 */
export async function makeDevCerts(options: CertsOptions): Promise<CertsResult> {
  // Absolute: openssl runs with cwd = dir, so a relative dir would be joined twice.
  const dir = resolve(options.dir);
  const days = String(options.days ?? 825);
  const hosts = options.hosts ?? ['localhost', '127.0.0.1'];
  const roles = options.roles ?? DEFAULT_CERT_ROLES;
  for (const role of roles) {
    if (!/^[A-Za-z0-9_-]+$/.test(role)) throw new Error(`role "${role}" must be letters, digits, _ and -`);
  }
  await mkdir(dir, { recursive: true });
  const file = (name: string) => join(dir, name);
  const openssl = async (...args: string[]) => {
    try {
      await run('openssl', args, { cwd: dir });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT') throw new Error('openssl is not installed (Debian: apt-get install openssl)');
      throw new Error(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim()}`);
    }
  };
  const key = (name: string) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file(name));

  await key('ca.key');
  await openssl('req', '-x509', '-new', '-key', file('ca.key'), '-out', file('ca.pem'), '-days', days, '-subj', '/CN=eldertree dev CA');

  const sign = async (name: string, subject: string, ext: string) => {
    await key(`${name}.key`);
    await openssl('req', '-new', '-key', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', subject);
    await writeFile(file(`${name}.ext`), ext);
    await openssl(
      'x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
      '-CAcreateserial', '-out', file(`${name}.pem`), '-days', days, '-extfile', file(`${name}.ext`),
    );
    await rm(file(`${name}.csr`));
    await rm(file(`${name}.ext`));
    return { cert: file(`${name}.pem`), key: file(`${name}.key`) };
  };

  const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  const server = await sign('server', '/CN=nats-server', `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  const clients: CertsResult['clients'] = {};
  for (const role of roles) {
    clients[role] = await sign(`client-${role}`, `/CN=${role}`, 'extendedKeyUsage=clientAuth\n');
  }
  return { ca: { cert: file('ca.pem'), key: file('ca.key') }, server, clients };
}
