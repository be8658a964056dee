import { closeSync, constants, openSync } from "node:fs";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import type { Stdio } from "../task/task-backend.js";

/**
 * Turns containerd's stdio strings into paths the holder opens: plain paths and
 * `fifo://` are FIFOs, `file://` is a file appended to. `binary://` loggers are
 * not supported yet and fail clearly instead of losing output.
 */
export function stdioPaths(stdio: Stdio): Stdio {
  const one = (what: string, s: string): string => {
    if (s === "") return "";
    if (s.startsWith("fifo://")) return s.slice("fifo://".length);
    if (s.startsWith("file://")) return s.slice("file://".length);
    if (s.startsWith("/")) return s;
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s)?.[1] ?? "";
    throw new RuntimeError(Code.Unimplemented, `${what} ${JSON.stringify(s)}: ${scheme ? `${scheme}:// stdio is not supported` : "want an absolute path"}`);
  };
  return { stdin: one("stdin", stdio.stdin), stdout: one("stdout", stdio.stdout), stderr: one("stderr", stdio.stderr), terminal: stdio.terminal };
}

/** A stderr FIFO containerd opened for a terminal process: open and close it so the reader sees EOF. */
export function closeUnusedFifo(path: string): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    /* no reader, or not a FIFO */
  }
}
