import { Code, codeName, isCode } from "./code.js";
import { codeFromErrno } from "./errno.js";

/**
 * The one error type of the project: a message plus a gRPC status code.
 * Adapters turn it into a ttrpc/gRPC status; guards check `code`, never
 * `instanceof`, so errors that crossed a process boundary still match.
 */
export class RuntimeError extends Error {
  override readonly name = "RuntimeError";
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /**
   * Converts anything thrown into a RuntimeError: RuntimeErrors pass through,
   * Node system errors map by errno, aborts map to Canceled/DeadlineExceeded,
   * everything else becomes Unknown.
   */
  static from(err: unknown, fallback: Code = Code.Unknown): RuntimeError {
    if (err instanceof RuntimeError) return err;
    if (hasCode(err)) return new RuntimeError(err.code, err.message, { cause: err });
    if (err instanceof Error) {
      if (err.name === "AbortError") return new RuntimeError(Code.Canceled, err.message, { cause: err });
      if (err.name === "TimeoutError") return new RuntimeError(Code.DeadlineExceeded, err.message, { cause: err });
      const errno = (err as NodeJS.ErrnoException).code;
      if (typeof errno === "string") {
        return new RuntimeError(codeFromErrno(errno) ?? fallback, err.message, { cause: err });
      }
      return new RuntimeError(fallback, err.message, { cause: err });
    }
    return new RuntimeError(fallback, String(err));
  }

  /** `"NotFound: container x not found"`, for logs. */
  override toString(): string {
    return `${codeName(this.code)}: ${this.message}`;
  }
}

/** True when `err` carries a gRPC status code (a RuntimeError, possibly from another realm). */
export function hasCode(err: unknown): err is Error & { code: Code } {
  if (!(err instanceof Error)) return false;
  const code: unknown = (err as { code?: unknown }).code;
  return typeof code === "number" && isCode(code);
}

/** True when `err` carries exactly status `code`. */
export function isErrorCode(err: unknown, code: Code): boolean {
  return hasCode(err) && err.code === code;
}

/** Shorthands for the codes the runtime raises most. */
export const errors = {
  notFound: (what: string) => new RuntimeError(Code.NotFound, what),
  alreadyExists: (what: string) => new RuntimeError(Code.AlreadyExists, what),
  invalidArgument: (what: string) => new RuntimeError(Code.InvalidArgument, what),
  failedPrecondition: (what: string) => new RuntimeError(Code.FailedPrecondition, what),
  unimplemented: (what: string) => new RuntimeError(Code.Unimplemented, what),
  unavailable: (what: string) => new RuntimeError(Code.Unavailable, what),
  internal: (what: string, cause?: unknown) => new RuntimeError(Code.Internal, what, { cause }),
} as const;
