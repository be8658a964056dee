/**
 * The steps the node runner takes for a core module and for a component alike: messages on
 * fd 2, exiting with a {@link RunnerExit} code, the start gate and the OOM marker. All
 * synchronous; imports kept to `node:fs` and the engine contract (loaded once per container).
 */
import { closeSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import { RunnerExit, type WasmLaunch } from "./wasm-engine.js";

/** Writes a line to fd 2 synchronously (the FIFO may be gone: errors are ignored). */
export function say(message: string): void {
  try {
    writeSync(2, `${message}\n`);
  } catch {
    /* nobody is reading */
  }
}

/** Says `message` and exits with `code`. */
export function fail(code: RunnerExit, message: string): never {
  say(message);
  process.exit(code);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Blocks (in open(2), then read(2)) until the daemon writes one byte. */
export function awaitStart(fifo: string): void {
  if (fifo === "") return;
  let fd: number;
  try {
    fd = openSync(fifo, "r");
  } catch (err) {
    fail(RunnerExit.RuntimeFailure, `wasm runner: start FIFO: ${errorMessage(err)}`);
  }
  let n: number;
  try {
    n = readSync(fd, Buffer.alloc(1), 0, 1, null);
  } catch (err) {
    fail(RunnerExit.RuntimeFailure, `wasm runner: start FIFO: ${errorMessage(err)}`);
  }
  closeSync(fd);
  if (n === 0) fail(RunnerExit.RuntimeFailure, "wasm runner: start FIFO closed before start");
}

/** Writes the OOM marker and exits {@link RunnerExit.MemoryLimit}. */
export function memoryLimitExceeded(launch: WasmLaunch): never {
  try {
    writeFileSync(launch.oomMarker, `${JSON.stringify({ memoryLimitBytes: launch.memoryLimitBytes })}\n`);
  } catch (err) {
    say(`wasm runner: cannot write OOM marker ${launch.oomMarker}: ${errorMessage(err)}`);
  }
  fail(RunnerExit.MemoryLimit, `wasm module exceeded its memory limit of ${launch.memoryLimitBytes} bytes`);
}
