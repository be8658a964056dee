import { execFile } from "node:child_process";
import { endInput } from "../process/child-input.js";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { abortedError } from "../errors/aborted.js";

/**
 * Runs one short command of an OCI runtime CLI (runc, runsc) as a child of
 * the daemon and resolves to its stdout; its error text becomes a status code
 * containerd understands, a missing binary FailedPrecondition. When `signal` fires
 * first (the caller's deadline or cancel), the command is SIGKILLed and the call
 * fails with the signal's reason.
 */
export function runCliCommand(tool: string, binary: string, globalArgs: readonly string[], args: readonly string[], timeoutMs: number, input?: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal));
    const child = execFile(binary, [...globalArgs, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20, killSignal: "SIGKILL", ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      if (signal?.aborted) {
        // Node reports the abort at once: fail only once the killed command is gone, so nothing of it outlives the call.
        if (child.exitCode !== null || child.signalCode !== null) return reject(abortedError(signal));
        return void child.once("exit", () => reject(abortedError(signal)));
      }
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        return reject(new RuntimeError(Code.FailedPrecondition, `${tool} binary ${JSON.stringify(binary)} not found`, { cause: err }));
      }
      reject(cliError(tool, args[0] ?? "", stderr || err.message, err));
    });
    if (input !== undefined) endInput(child.stdin, input);
  });
}

/** Turns an OCI runtime's error text into a status code containerd understands. */
export function cliError(tool: string, command: string, text: string, cause?: unknown): RuntimeError {
  const msg = extractMessage(text);
  const code = /does not exist|not found|no such|cannot load container/i.test(msg)
    ? Code.NotFound
    : /already exists/i.test(msg)
      ? Code.AlreadyExists
      : /not running|is stopped|already finished|process already|in state stopped/i.test(msg)
        ? Code.NotFound
        : /cannot|not paused|not in|invalid state/i.test(msg)
          ? Code.FailedPrecondition
          : Code.Unknown;
  return new RuntimeError(code, `${tool} ${command}: ${msg}`, { cause });
}

/** runc prints `time=... level=error msg="..."` or JSON log lines; keep just the message. */
export function extractMessage(text: string): string {
  const lines = text.trim().split("\n").filter(Boolean);
  const last = lines.at(-1) ?? "";
  try {
    const j = JSON.parse(last) as { msg?: string };
    if (j.msg) return j.msg;
  } catch {
    /* not JSON */
  }
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(last);
  return m ? m[1]!.replace(/\\"/g, '"') : last || "failed";
}

/** Environment of an OCI runtime command the pod holder launches: the daemon's PATH (the holder passes no other). */
export function holderLaunchEnv(): string[] {
  return [`PATH=${process.env["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}`];
}
