import { join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/**
 * Where runc and crun keep a created container's exec fifo, under their state root (`--root`):
 * what their `start` opens. Starting a container by the fifo directly (on the host, or by a VM
 * guest's agent) relies on this layout.
 */
export function execFifoPath(root: string, id: string): string {
  return join(root, id, "exec.fifo");
}

/** A start that found the container's init gone, as the runtime's own `start` reports it (FailedPrecondition). */
export function initAlreadyDead(runtime: "runc" | "crun", id: string, cause?: unknown): RuntimeError {
  return new RuntimeError(Code.FailedPrecondition, `${runtime} start ${id}: container process is already dead`, cause === undefined ? undefined : { cause });
}
