import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { initialMemoryPages } from "./module-memory.js";
import { gatedArgv, memoryLimitCommand } from "./start-gate.js";
import { preopenDirs, validateLaunch, wasiEnv, wasmPagesForLimit, type WasmCommand, type WasmEngine, type WasmLaunch } from "./wasm-engine.js";

/** Options of {@link WasmEdgeEngine}. */
export interface WasmEdgeEngineOptions {
  /** The argv that runs the `wasmedge` CLI: its binary, or a private loader and its library path before it. */
  wasmedge: string[];
  /** Extra `wasmedge` flags, after ours (e.g. `["--enable-jit"]`). Default none. */
  extraArgs: string[];
  /** The POSIX shell that gates the start. Default `/bin/sh`. */
  shell: string;
}

/**
 * The `wasmedge` CLI (WasmEdge 0.14, Debian trixie's): its interpreter by default.
 *
 * ```
 * wasmedge [--memory-page-limit PAGES] EXTRA... --dir GUEST:HOST... --env NAME=VAL... -- MODULE ARGS[1..]
 * ```
 *
 * behind the shell start gate (`start-gate.ts`), which enters the container's root (the
 * `/` preopen) first: WasmEdge gives the module its path as typed as `argv[0]`, so the
 * module is named relative to that root (`/app.wasm` is seen as `app.wasm`); an artifact's
 * module, kept outside the root, is seen by its host path. Like wasmtime, the module is compiled after Start, and an invalid or missing
 * import exits 1. Traps exit 134, as under the node runner. WasmEdge writes its own error
 * messages (a trap, a failed load) on stdout, so they reach the container's stdout log. WasmEdge names preopens without
 * their leading slash (`/data` is `data`), which wasi-libc treats alike.
 *
 * Memory: `--memory-page-limit` makes `memory.grow` fail past the cap (stderr: `Memory grow
 * page failed, exceeded limited N page size` on stdout); the module's own reaction (a trap, 134, or
 * its exit code) is the container's exit, without the OOM marker. A module whose initial
 * memory is already above the cap, which wasmedge reports and then exits 0 for, is caught
 * here from the module's bytes: after Start it exits 137 with the OOM marker, as under the
 * node runner. The environment appears on the command line (/proc/<pid>/cmdline).
 */
export class WasmEdgeEngine implements WasmEngine {
  readonly name = "wasmedge";
  readonly components = "none" as const;

  constructor(readonly options: WasmEdgeEngineOptions) {}

  command(launch: WasmLaunch): WasmCommand {
    validateLaunch(launch);
    const root = launch.preopens["/"];
    if (root === undefined) throw new RuntimeError(Code.InvalidArgument, "wasmedge: the launch preopens no / (the container's root)");
    const dirs = preopenDirs("wasmedge", launch.preopens, ":", (guest, host) => `${guest}:${host}`).flatMap((d) => ["--dir", d]);
    // A module outside the root (a wasm OCI artifact's, from the module cache) is named by its host path.
    const rel = relative(root, launch.module);
    const inRoot = rel.startsWith("..") || rel === "" ? launch.module : rel;
    const name = launch.args[0] ?? launch.module;
    const pages = wasmPagesForLimit(launch.memoryLimitBytes);
    const tooBig = pages > 0 && (initialPagesOf(launch.module) ?? 0) > pages;
    const command = tooBig
      ? memoryLimitCommand(this.options.shell, launch.oomMarker, launch.memoryLimitBytes)
      : [
          ...this.options.wasmedge,
          ...(pages > 0 ? ["--memory-page-limit", String(pages)] : []),
          ...this.options.extraArgs,
          ...dirs,
          ...wasiEnv(launch.env).flatMap((e) => ["--env", e]),
          "--",
          inRoot,
          ...launch.args.slice(1),
        ];
    return { argv: gatedArgv({ shell: this.options.shell, module: launch.module, startFifo: launch.startFifo, name, cwd: root, command }), env: [] };
  }
}

/** The module's initial memory in pages; undefined when it cannot be read (the gate or wasmedge reports why). */
function initialPagesOf(module: string): number | undefined {
  try {
    return initialMemoryPages(readFileSync(module));
  } catch {
    return undefined;
  }
}
