import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/**
 * What a signal to a pod's sandbox ("pause") task means on the shim bridge, where no pause
 * process runs: what the pause process would have done with it, applied to the pod.
 * containerd 1.7's CRI sends SIGKILL when it stops a pod (its containers already stopped);
 * `ctr task kill` sends SIGTERM unless told otherwise.
 */
export type SandboxTaskSignal =
  /** Signal 0: only asks whether the task is alive; nothing is sent. */
  | { readonly action: "probe" }
  /** The pod stops: its containers get `graceful` ? the configured grace : none; the task exits with `exitStatus`. */
  | { readonly action: "stop"; readonly graceful: boolean; readonly exitStatus: number };

const SIGINT = 2;
const SIGKILL = 9;
const SIGTERM = 15;

export function sandboxTaskSignal(id: string, signal: number): SandboxTaskSignal {
  if (signal === 0) return { action: "probe" };
  // The pause process exits 0 on SIGINT and SIGTERM; SIGKILL ends it with 128 + 9.
  if (signal === SIGINT || signal === SIGTERM) return { action: "stop", graceful: true, exitStatus: 0 };
  if (signal === SIGKILL) return { action: "stop", graceful: false, exitStatus: 128 + SIGKILL };
  throw new RuntimeError(
    Code.Unimplemented,
    `signal ${signal} to sandbox ${id}: no pause process runs to receive it; the sandbox task takes 0 (is it alive), SIGINT or SIGTERM (stop the pod, its containers get the grace) and SIGKILL (stop the pod at once)`,
  );
}
