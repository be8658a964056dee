import { gatedArgv } from "./start-gate.js";
import { preopenDirs, validateLaunch, wasiEnv, type WasmCommand, type WasmEngine, type WasmLaunch } from "./wasm-engine.js";

/** Options of {@link WasmtimeEngine}. */
export interface WasmtimeEngineOptions {
  /** Absolute path of the `wasmtime` binary (the holder executes it without a PATH search). */
  binary: string;
  /** Extra `wasmtime run` flags, placed after ours so they win (e.g. `["-C", "cache=y"]`). Default none. */
  extraArgs: string[];
  /** The POSIX shell that gates the start. Default `/bin/sh`. */
  shell: string;
}

/**
 * A system `wasmtime` binary. The command line follows the wasmtime CLI as
 * reworked in wasmtime 14 (option groups `-W`/`-C`, `--dir HOST::GUEST`,
 * `--env NAME=VAL`) plus `--argv0` (bytecodealliance/wasmtime PR 8961,
 * wasmtime 24), so it needs wasmtime 24 or later. Checked against wasmtime's
 * own sources on its main branch (`src/common.rs` `RunCommon`,
 * `src/commands/run.rs` `RunCommand`, `crates/cli-flags/src/lib.rs` for
 * `-W max-memory-size` and `-C cache`), not against a running binary:
 *
 * ```
 * wasmtime run -C cache=n [-W max-memory-size=BYTES] EXTRA...
 *   --dir HOST::GUEST... --env NAME=VAL... --argv0 ARGS[0] -- MODULE ARGS[1..]
 * ```
 *
 * wasmtime cannot wait on the start FIFO itself, so the command is a small
 * `/bin/sh` gate (see `start-gate.ts`) that `exec`s wasmtime once the byte arrives;
 * unlike the node runner, the module is therefore compiled after Start, and
 * an invalid module exits 1 (wasmtime's error exit) instead of 126. Traps exit
 * 134 as in the node runner. `max-memory-size` makes `memory.grow` return -1
 * at the limit, but wasmtime does not say that the limit caused the failure,
 * so this engine never writes the OOM marker nor exits 137 for it. The
 * compilation cache is off (it needs a writable `$HOME`); `extraArgs` can turn
 * it back on. The environment appears on wasmtime's command line
 * (/proc/<pid>/cmdline); the node engine keeps it out of there.
 */
export class WasmtimeEngine implements WasmEngine {
  readonly name = "wasmtime";
  readonly components = "native" as const;

  constructor(readonly options: WasmtimeEngineOptions) {}

  command(launch: WasmLaunch): WasmCommand {
    validateLaunch(launch);
    const dirs = preopenDirs("wasmtime", launch.preopens, "::", (guest, host) => `${host}::${guest}`).flatMap((d) => ["--dir", d]);
    const env = wasiEnv(launch.env).flatMap((e) => ["--env", e]);
    const wasmtime = [
      this.options.binary,
      "run",
      "-C",
      "cache=n",
      ...(launch.memoryLimitBytes > 0 ? ["-W", `max-memory-size=${launch.memoryLimitBytes}`] : []),
      ...this.options.extraArgs,
      ...dirs,
      ...env,
      "--argv0",
      launch.args[0] ?? launch.module,
      "--",
      launch.module,
      ...launch.args.slice(1),
    ];
    const name = launch.args[0] ?? launch.module;
    return { argv: gatedArgv({ shell: this.options.shell, module: launch.module, startFifo: launch.startFifo, name, cwd: "", command: wasmtime }), env: [] };
  }
}
