import { format } from "node:util";
import { logVerbosity, setLogger, setLogVerbosity } from "@grpc/grpc-js";
import type { Logger } from "../log/logger.js";

/**
 * grpc-js writes its diagnostics to console.error; a daemon's stderr is NDJSON,
 * so send them through our logger instead (warnings and errors only).
 */
export function routeGrpcLogs(log: Logger): void {
  const line = (level: "warn" | "info" | "debug") => (message?: unknown, ...rest: unknown[]) => log[level]({ component: "grpc-js" }, format(message, ...rest));
  setLogger({ error: line("warn"), info: line("info"), debug: line("debug") });
  setLogVerbosity(logVerbosity.ERROR);
}
