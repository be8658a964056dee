import { fileURLToPath } from "node:url";
import { encodeLaunch, LAUNCH_ENV, wasmPagesForLimit, type WasmCommand, type WasmEngine, type WasmLaunch } from "./wasm-engine.js";

/** Options of {@link NodeWasiEngine}. */
export interface NodeWasiEngineOptions {
  /** The node binary that runs the runner. Default `process.execPath` (the daemon's own node). */
  nodeBinary: string;
  /** V8 old-space cap of each runner in MiB (`--max-old-space-size`); the module's linear memory is outside it. Default 32. */
  maxOldSpaceMiB: number;
  /** The runner program. Default `runner.js` beside this module (`dist/src/sandboxers/wasm/runner.js`). */
  runnerPath: string;
}

/** Defaults of {@link NodeWasiEngineOptions}. */
export const defaultNodeWasiEngineOptions: NodeWasiEngineOptions = {
  nodeBinary: process.execPath,
  maxOldSpaceMiB: 32,
  runnerPath: fileURLToPath(new URL("./runner.js", import.meta.url)),
};

/**
 * The embedded default: V8's WebAssembly through `node:wasi`, needing nothing
 * installed. Each container gets its own runner process (`runner.ts`), so a
 * module that traps, loops or exhausts memory only takes its runner down.
 *
 * The command is `node --wasm-max-mem-pages=<limit/64KiB> --no-warnings
 * --max-old-space-size=<MiB> runner.js`; the launch travels base64url-encoded
 * in `$KUASAR_WASM_LAUNCH`, the runner's only environment variable, rather
 * than on the command line, because it holds the container's environment and
 * /proc/<pid>/cmdline is world-readable while /proc/<pid>/environ is not.
 * `--wasm-max-mem-pages` caps every linear memory of the process, so
 * `memory.grow` past the limit returns -1 and an initial size above it fails
 * at instantiation; the runner turns either into exit 137.
 */
export class NodeWasiEngine implements WasmEngine {
  readonly name = "node";
  readonly components = "transpiled" as const;

  constructor(readonly options: NodeWasiEngineOptions = defaultNodeWasiEngineOptions) {}

  command(launch: WasmLaunch): WasmCommand {
    const pages = wasmPagesForLimit(launch.memoryLimitBytes);
    return {
      argv: [
        this.options.nodeBinary,
        ...(pages > 0 ? [`--wasm-max-mem-pages=${pages}`] : []),
        "--no-warnings",
        `--max-old-space-size=${this.options.maxOldSpaceMiB}`,
        this.options.runnerPath,
      ],
      env: [`${LAUNCH_ENV}=${encodeLaunch(launch)}`],
    };
  }
}
