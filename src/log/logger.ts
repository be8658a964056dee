import { pino, type DestinationStream, type Level, type Logger } from "pino";

export type { Logger };

/** Log levels accepted on the command line and in config (`--log-level`). */
export const logLevels = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
export type LogLevel = (typeof logLevels)[number];

/**
 * Creates the root logger. Only entry points call this; everything else gets a
 * child (`log.child({ sandbox_id })`) through its constructor. Output is NDJSON
 * on stderr (or `destination`), never pretty-printed in-process.
 */
export function createRootLogger(options: { level: LogLevel; name: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      name: options.name,
      level: options.level as Level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ fd: 2, sync: false, maxLength: MAX_UNWRITTEN_LOG_BYTES }),
  );
}

/**
 * Most log output held in memory while stderr is slower than we log (a client flooding
 * a daemon with bad calls makes a line each): past it, lines are dropped, not kept.
 */
export const MAX_UNWRITTEN_LOG_BYTES = 8 << 20;

/** A logger that drops everything; for unit tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
