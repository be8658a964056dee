import { spawn } from "node:child_process";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { abortedError } from "../errors/aborted.js";

/** How a troubleshooting command ended. */
export interface ExecOutcome {
  status: number;
  stdout: string;
  stderr: string;
}

/** Most output kept of each stream; the rest is cut (a troubleshooting command, not a data path). */
const MAX_OUTPUT_BYTES = 4 << 20;

/**
 * Runs `argv` on the host with no stdin, capturing its output; killed at `timeoutMs`
 * (DeadlineExceeded), or when `signal` fires (its reason). The status is the exit code, or 128 + signal number.
 */
export function runCaptured(argv: string[], timeoutMs: number, signal?: AbortSignal): Promise<ExecOutcome> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal));
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout.on("data", (b: Buffer) => outBytes < MAX_OUTPUT_BYTES && (outBytes += b.length) && out.push(b));
    child.stderr.on("data", (b: Buffer) => errBytes < MAX_OUTPUT_BYTES && (errBytes += b.length) && err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    const onAbort = () => child.kill("SIGKILL");
    signal?.addEventListener("abort", onAbort, { once: true });
    child.once("error", (e) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      reject(new RuntimeError(Code.FailedPrecondition, `${argv[0]}: ${e.message}`, { cause: e }));
    });
    child.once("close", (code, killedBy) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (signal?.aborted) return reject(abortedError(signal));
      if (timedOut) return reject(new RuntimeError(Code.DeadlineExceeded, `${argv[0]}: killed after ${timeoutMs} ms`));
      const signo = killedBy ? ({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGSEGV: 11, SIGABRT: 6 } as Record<string, number>)[killedBy] ?? 0 : 0;
      resolve({ status: code ?? 128 + signo, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
  });
}
