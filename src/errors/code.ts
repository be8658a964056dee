/**
 * gRPC status codes, shared by ttrpc and gRPC (same numbering on both wires).
 * An `as const` object rather than an enum so the code stays erasable.
 */
export const Code = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;

/** A gRPC status code number. */
export type Code = (typeof Code)[keyof typeof Code];

const names = new Map<number, string>(Object.entries(Code).map(([k, v]) => [v, k]));

/** The name of a status code ("NotFound"), or "Code(n)" for numbers outside the table. */
export function codeName(code: number): string {
  return names.get(code) ?? `Code(${code})`;
}

/** True when `n` is one of the defined status codes. */
export function isCode(n: number): n is Code {
  return names.has(n);
}
