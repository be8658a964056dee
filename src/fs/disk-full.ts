import { statfsSync } from "node:fs";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/** Below this much free space a state dir counts as full: a runc state or a pod's files take more. */
const NEARLY_FULL_BYTES = 64 * 1024;

/** True when the file system holding `dir` has (almost) no room left; false when it cannot tell. */
export function isNearlyFull(dir: string): boolean {
  try {
    const s = statfsSync(dir);
    return s.bfree * s.bsize < NEARLY_FULL_BYTES;
  } catch {
    return false;
  }
}

/**
 * `err` as a RuntimeError, made ResourceExhausted and saying so when `dir`'s
 * file system is full: tools that failed to write there (runc: "unable to store
 * init state") do not always say why.
 */
export function explainFullDisk(err: unknown, dir: string): RuntimeError {
  const e = RuntimeError.from(err);
  if (e.code === Code.ResourceExhausted || !isNearlyFull(dir)) return e;
  return new RuntimeError(Code.ResourceExhausted, `${e.message} (no space left on device in ${dir})`, { cause: err });
}
