import { readFileSync } from 'node:fs';
import { connect as tcp } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface TlsFiles {
  certFile?: string;
  keyFile?: string;
  caFile?: string;
}

/**
 * Why a NATS connection failed, in words. nats.js reports a refused TLS handshake as a
 * plain timeout; this replays the start of the NATS handshake (INFO in clear, then the
 * TLS upgrade with our certificate) and reports what the TLS layer says, e.g. that the
 * server requires a certificate or does not trust ours.
 */
export async function diagnoseConnect(server: string, tls: TlsFiles | undefined, timeoutMs = 3000): Promise<string | undefined> {
  const m = /^(?:(?:nats|tls):\/\/)?([^:/]+)(?::(\d+))?/.exec(server);
  if (!m) return undefined;
  const host = m[1]!;
  const port = Number(m[2] ?? 4222);
  return new Promise((resolve) => {
    const done = (why: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done(`no answer from ${host}:${port} within ${timeoutMs} ms`), timeoutMs);
    const socket = tcp(port, host);
    socket.once('error', (err) => done(`cannot reach ${host}:${port}: ${err.message}`));
    socket.once('data', (info: Buffer) => {
      const line = info.toString('utf8');
      if (!line.startsWith('INFO ')) return done(`${host}:${port} is not a NATS server`);
      const wantsTls = /"tls_required"\s*:\s*true/.test(line);
      if (!wantsTls) return done(tls ? `${host}:${port} does not use TLS, but TLS files were given` : undefined);
      let secure;
      try {
        secure = tlsConnect({
          socket,
          servername: /^[\d.]+$/.test(host) ? undefined : host,
          ...(tls?.caFile ? { ca: readFileSync(tls.caFile) } : {}),
          ...(tls?.certFile ? { cert: readFileSync(tls.certFile) } : {}),
          ...(tls?.keyFile ? { key: readFileSync(tls.keyFile) } : {}),
        });
      } catch (err) {
        return done(`our TLS files cannot be used: ${(err as Error).message}`);
      }
      secure.once('error', (err) => done(explainTls(err.message, tls)));
      // With TLS 1.3 the server judges our certificate after our side is done: wait
      // for its verdict a moment before calling the handshake good.
      secure.once('secureConnect', () => setTimeout(() => done(undefined), 300));
    });
  });
}

/** OpenSSL's error strings, as the sentence a user can act on. */
function explainTls(message: string, tls: TlsFiles | undefined): string {
  const alert = /alert ([a-z ]+?)(?::|$)/.exec(message)?.[1]?.trim();
  if (alert === 'bad certificate' || alert === 'certificate required' || alert === 'unknown ca') {
    return tls?.certFile
      ? `the server refused our client certificate ${tls.certFile} (${alert}): is it signed by a CA the server trusts?`
      : `the server requires a client certificate (${alert}): give --tls-cert and --tls-key`;
  }
  if (/self[- ]signed|unable to verify|unable to get local issuer/i.test(message)) {
    return `we do not trust the server's certificate (${message.split(':').pop()?.trim()}): give its CA with --tls-ca`;
  }
  return `TLS handshake failed: ${alert ?? message}`;
}
