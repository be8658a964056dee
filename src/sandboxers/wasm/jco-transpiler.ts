import { spawn } from "node:child_process";
import { endInput } from "../../process/child-input.js";
import { fileURLToPath } from "node:url";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import type { ComponentTranspiler, TranspiledComponent } from "./component-cache.js";

/** Options of {@link JcoTranspiler}. */
export interface JcoTranspilerOptions {
  /** The node binary. Default `process.execPath`. */
  nodeBinary: string;
  /** The transpiler program. Default `component-transpile.js` beside this module. */
  programPath: string;
  /** How long one transpile may take, in ms; then it is killed (DeadlineExceeded). Default 120000. */
  timeoutMs: number;
  /** Most bytes of output accepted (the JSON of the JS and core modules). Default 512 MiB. */
  maxOutputBytes: number;
}

/** Defaults of {@link JcoTranspilerOptions}. */
export const defaultJcoTranspilerOptions: JcoTranspilerOptions = {
  nodeBinary: process.execPath,
  programPath: fileURLToPath(new URL("./component-transpile.js", import.meta.url)),
  timeoutMs: 120_000,
  maxOutputBytes: 512 << 20,
};

/**
 * Transpiles components with jco in a child process (`component-transpile.ts`), so kuasard
 * never loads jco and stays responsive while a component is transpiled. The child is the
 * daemon's: awaited here and SIGKILLed on timeout or abort; if the daemon dies first, its
 * stdout pipe breaks and it ends on its own (it writes nothing else).
 */
export class JcoTranspiler implements ComponentTranspiler {
  constructor(readonly options: JcoTranspilerOptions = defaultJcoTranspilerOptions) {}

  transpile(component: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<TranspiledComponent> {
    const signal = options.signal ? AbortSignal.any([options.signal, AbortSignal.timeout(this.options.timeoutMs)]) : AbortSignal.timeout(this.options.timeoutMs);
    return new Promise((resolve, reject) => {
      const child = spawn(this.options.nodeBinary, ["--no-warnings", this.options.programPath], { stdio: ["pipe", "pipe", "pipe"], signal, killSignal: "SIGKILL" });
      const out: Buffer[] = [];
      let outBytes = 0;
      let err = "";
      child.stdout.on("data", (d: Buffer) => {
        outBytes += d.length;
        if (outBytes > this.options.maxOutputBytes) child.kill("SIGKILL");
        else out.push(d);
      });
      child.stderr.setEncoding("utf8").on("data", (d: string) => (err = (err + d).slice(-4096)));
      endInput(child.stdin, component); // it may die before reading all: its exit says why
      child.on("error", (e) => {
        if (e.name === "AbortError") {
          const timedOut = signal.reason instanceof Error && signal.reason.name === "TimeoutError";
          reject(timedOut ? new RuntimeError(Code.DeadlineExceeded, `jco transpile took over ${this.options.timeoutMs} ms`) : RuntimeError.from(signal.reason ?? e));
        } else reject(new RuntimeError(Code.FailedPrecondition, `cannot run the component transpiler: ${e.message}`, { cause: e }));
      });
      child.on("close", (code, sig) => {
        if (signal.aborted) return; // reported by "error"
        if (outBytes > this.options.maxOutputBytes) return reject(new RuntimeError(Code.ResourceExhausted, `jco transpile output exceeds ${this.options.maxOutputBytes} bytes`));
        // Killed from outside (kill -9, the OOM killer): not the component's fault, and worth a retry.
        if (sig !== null) return reject(new RuntimeError(Code.Unavailable, `the component transpiler was killed (${sig}); nothing was cached, try again`));
        if (code !== 0) return reject(new RuntimeError(Code.InvalidArgument, `jco: ${err.trim() || `exit ${code}`}`));
        try {
          const parsed = JSON.parse(Buffer.concat(out).toString("utf8")) as { files: Record<string, string>; imports: string[]; exports: string[] };
          const files: Record<string, Uint8Array> = {};
          for (const [name, b64] of Object.entries(parsed.files)) files[name] = Buffer.from(b64, "base64");
          resolve({ files, imports: parsed.imports, exports: parsed.exports });
        } catch (e) {
          reject(new RuntimeError(Code.Internal, "the component transpiler's output is not JSON", { cause: e }));
        }
      });
    });
  }
}
