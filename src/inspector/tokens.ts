import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Who a token stands for: the name audit lines print and the role `authorize` checks. */
export interface TokenHolder {
  who: string;
  role: string;
}

/** A bad token or token file: the runtime and CLI print the message as their one line. */
export class TokenConfigError extends Error {
  override name = 'TokenConfigError';
}

/** Shorter tokens are guessable over a network; refuse them rather than warn. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * The inspector's bearer tokens and the role each one carries. The role comes from this
 * configuration only: nothing the caller sends beyond the token itself picks it.
 */
export class InspectorTokens {
  private readonly entries: { digest: Buffer; holder: TokenHolder }[] = [];

  /** One token, the operator role (`--inspect-token`). */
  static single(token: string, role = 'operator', who = 'token'): InspectorTokens {
    return new InspectorTokens().add(token, role, who);
  }

  /**
   * A token file (`--inspect-token-file`): one token a line as `TOKEN ROLE [NAME]`;
   * blank lines and lines starting with # are skipped. NAME defaults to ROLE.
   */
  static parse(text: string, source = 'token file'): InspectorTokens {
    const tokens = new InspectorTokens();
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const [token, role, who, ...rest] = line.split(/\s+/);
      if (!role || rest.length > 0) {
        throw new TokenConfigError(`${source} line ${i + 1}: expected "TOKEN ROLE [NAME]"`);
      }
      try {
        tokens.add(token!, role, who ?? role);
      } catch (err) {
        throw new TokenConfigError(`${source} line ${i + 1}: ${(err as Error).message}`);
      }
    });
    if (tokens.size === 0) throw new TokenConfigError(`${source} has no tokens`);
    return tokens;
  }

  static fromFile(file: string): InspectorTokens {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new TokenConfigError(`cannot read the token file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return InspectorTokens.parse(text, file);
  }

  get size(): number {
    return this.entries.length;
  }

  add(token: string, role: string, who: string): this {
    if (token.length < MIN_TOKEN_LENGTH) throw new TokenConfigError(`a token must be at least ${MIN_TOKEN_LENGTH} characters`);
    if (!/^[\x21-\x7e]+$/.test(token)) throw new TokenConfigError('a token must be printable ASCII without spaces');
    const digest = sha256(token);
    if (this.entries.some((e) => timingSafeEqual(e.digest, digest))) throw new TokenConfigError('the same token is given twice');
    this.entries.push({ digest, holder: { who, role } });
    return this;
  }

  /** The holder of `token`, or undefined. Compares digests in constant time. */
  holder(token: string): TokenHolder | undefined {
    const digest = sha256(token);
    let found: TokenHolder | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, digest)) found = e.holder;
    return found;
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** The token of an `Authorization: Bearer TOKEN` header; undefined when there is none. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const m = value ? /^Bearer\s+(\S+)\s*$/i.exec(value) : null;
  return m ? m[1] : undefined;
}
