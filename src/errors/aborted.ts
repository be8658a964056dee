import { Code } from "./code.js";
import { RuntimeError } from "./runtime-error.js";

/**
 * The error of a call whose caller gave up: the signal's reason when it is a
 * RuntimeError (DeadlineExceeded from a deadline, Canceled from a cancel), else Canceled.
 */
export function abortedError(signal: AbortSignal): RuntimeError {
  return RuntimeError.from(signal.reason ?? "canceled", Code.Canceled);
}
