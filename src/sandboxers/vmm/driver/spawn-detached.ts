import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { Code } from "../../../errors/code.js";
import { RuntimeError } from "../../../errors/runtime-error.js";

/**
 * Starts `argv` in a session of its own with stdout/stderr appended to `logPath`,
 * so it outlives the daemon (a kill of the daemon's process group never reaches
 * it); resolves once it runs. The daemon still reaps it while it lives.
 */
export async function spawnDetached(argv: readonly string[], logPath: string): Promise<ChildProcess & { pid: number }> {
  const log = openSync(logPath, "a", 0o600);
  try {
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ["ignore", log, log] });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (err) => reject(new RuntimeError(Code.FailedPrecondition, `starting ${argv[0]}: ${err.message}`, { cause: err })));
    });
    child.unref();
    return child as ChildProcess & { pid: number };
  } finally {
    closeSync(log);
  }
}
