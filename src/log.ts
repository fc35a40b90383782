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
