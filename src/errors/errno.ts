import { constants } from "node:os";
import { Code } from "./code.js";

/** errno name -> status code; the one place this mapping lives. */
const byErrno: Record<string, Code> = {
  ENOENT: Code.NotFound,
  ESRCH: Code.NotFound,
  EEXIST: Code.AlreadyExists,
  EACCES: Code.PermissionDenied,
  EPERM: Code.PermissionDenied,
  EINVAL: Code.InvalidArgument,
  ENAMETOOLONG: Code.InvalidArgument,
  ENOTDIR: Code.InvalidArgument,
  EISDIR: Code.InvalidArgument,
  ENOSPC: Code.ResourceExhausted,
  EDQUOT: Code.ResourceExhausted,
  EIO: Code.DataLoss,
  ENOMEM: Code.ResourceExhausted,
  EMFILE: Code.ResourceExhausted,
  ENFILE: Code.ResourceExhausted,
  EBUSY: Code.FailedPrecondition,
  ENOTEMPTY: Code.FailedPrecondition,
  ECONNREFUSED: Code.Unavailable,
  ECONNRESET: Code.Unavailable,
  EPIPE: Code.Unavailable,
  ETIMEDOUT: Code.DeadlineExceeded,
  ENOSYS: Code.Unimplemented,
  EOPNOTSUPP: Code.Unimplemented,
};

/** The status code for a Node errno name (`"ENOENT"`), or undefined when unmapped. */
export function codeFromErrno(errno: string): Code | undefined {
  return byErrno[errno];
}

// Some numbers have two names (EAGAIN/EWOULDBLOCK, ENOTSUP/EOPNOTSUPP): all are kept, the first is the name.
const namesByNumber = new Map<number, string[]>();
for (const [name, n] of Object.entries(constants.errno)) namesByNumber.set(n, [...(namesByNumber.get(n) ?? []), name]);

/** The errno name of a number the kernel (or a C helper) returned (`2` -> `"ENOENT"`), or undefined when unknown. */
export function errnoName(errno: number): string | undefined {
  return namesByNumber.get(errno)?.[0];
}

/** The status code for a numeric errno (under any of its names), or undefined when unmapped. */
export function codeFromErrnoNumber(errno: number): Code | undefined {
  return namesByNumber.get(errno)?.map((name) => byErrno[name]).find((c) => c !== undefined);
}
