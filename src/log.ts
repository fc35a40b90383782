import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level?: LogLevel;
  /** Bound into every line, e.g. the node name. */
  base?: Record<string, unknown>;
  /** Defaults to stdout, written synchronously so a fatal line is out before exit. */
  destination?: DestinationStream;
}

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** The one place loggers are made: JSON lines, pino's standard shape. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    { level: options.level ?? 'info', base: options.base ?? null, timestamp: pino.stdTimeFunctions.isoTime },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that writes nothing: the default for library use and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Logs the first warning of a kind at once, then at most one per `everyMs` with the
 * count of those held back: an outage must not log one line per message.
 */
export class RateLimitedLog {
  readonly #last = new Map<string, { at: number; held: number }>();

  constructor(
    private readonly logger: Logger,
    readonly everyMs = 5000,
  ) {}

  warn(kind: string, fields: Record<string, unknown>, message: string): void {
    const now = performance.now();
    const seen = this.#last.get(kind);
    if (seen && now - seen.at < this.everyMs) {
      seen.held++;
      return;
    }
    const held = seen?.held ?? 0;
    if (this.#last.size >= 1000) this.#last.clear(); // kinds are few; never grow without bound
    this.#last.set(kind, { at: now, held: 0 });
    const more = held > 0 ? ` (and ${held} more like it in the last ${Math.round((now - seen!.at) / 1000)} s)` : '';
    this.logger.warn({ ...fields, ...(held > 0 ? { repeated: held } : {}) }, message + more);
  }
}

const limited = new WeakMap<Logger, RateLimitedLog>();

/** One RateLimitedLog per logger, so every part of a node shares the same budget per kind. */
export function rateLimited(logger: Logger): RateLimitedLog {
  let log = limited.get(logger);
  if (!log) limited.set(logger, (log = new RateLimitedLog(logger)));
  return log;
}
