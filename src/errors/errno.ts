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
