import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { preopenDirs, validateLaunch, wasiEnv, wasmPagesForLimit, type WasmCommand, type WasmEngine, type WasmLaunch } from "./wasm-engine.js";
import { privateWasmEdgeDir } from "./wasmedge-location.js";
import { privateLoader, privateLoaderArgv } from "../../fs/private-deps.js";

/** The per-container runner of the pod-level host (static, built by native/). */
export const defaultWasmRunBinary: string = fileURLToPath(new URL("../../../../build/native/kuasar-wasm-run", import.meta.url));
/** The pod-level host (built by native/ against the private WasmEdge's headers). */
export const defaultWasmHostBinary: string = fileURLToPath(new URL("../../../../build/native/kuasar-wasm-host", import.meta.url));
/**
 * Libraries the host loads before WasmEdge's own: the libLLVM stand-in native/ builds
 * (`native/wasm-host/llvm-stand-in.sh`), since the host never runs WasmEdge's AOT compiler.
 * Absent (no LLVM behind libwasmedge, or not built): the host loads the real one.
 */
export const defaultWasmHostLibDir: string = fileURLToPath(new URL("../../../../build/native/wasm-host-lib", import.meta.url));

/**
 * Process names (`/proc/<pid>/comm`, set by the programs themselves) that tell the pod's
 * processes apart in `ps` and in the benchmark: the host runs through the private loader (its
 * comm would be the loader's) and its instances are forks of it (same argv).
 */
export const WASM_HOST_COMM = "kuasar-wasm-hos";
/** The name of the node's template of pods' hosts (`--zygote`, wasm-host-zygote.ts). */
export const WASM_ZYGOTE_COMM = "wasm-zygote";
/** The name of each container's instance (a fork of the host running the module). */
export const WASM_INSTANCE_COMM = "wasm-instance";
/** The name of `kuasar-wasm-run` (its file name, 15 bytes: comm keeps it whole). */
export const WASM_RUN_COMM = "kuasar-wasm-run";

/** Options of {@link WasmEdgePodEngine}. */
export interface WasmEdgePodEngineOptions {
  /** `kuasar-wasm-run`, absolute. */
  runBinary: string;
  /** The host's argv: the private loader, its library path, then `kuasar-wasm-host`. */
  hostArgv: string[];
}

/**
 * WasmEdge at the pod level: one `kuasar-wasm-host` per pod (WasmEdge as a library; it
 * parses and validates each module once per content) and a fork of it per container, with
 * the container's own VM, WASI and memory cap, so one container's trap, exit or memory
 * blow-up never ends another's. The holder launches `kuasar-wasm-run` per container, which
 * passes its stdio and launch to the host (starting the host when the pod has none, as a
 * descendant of the holder: in the pod's namespaces, outliving kuasard; the pod's start
 * brings it up already, {@link WasmEdgePodEngine.warm}), waits on the start
 * FIFO, and ends as the instance ends; signals it gets reach the instance. The launch travels
 * in its environment (`KW_*`, see native/wasm-host/protocol.h), not on its command line.
 *
 * Exit statuses as the node runner's ({@link RunnerExit}): the module's own, 125 (the runner
 * or host failed), 126 (invalid module or an import this host lacks, at Create), 127 (no
 * module, at Create), 134 (trap, `wasm trap: ...` on stderr), 137 (memory limit: its initial
 * memory is above the cap, or it trapped or exited non-zero with its memory at the cap; the
 * OOM marker is written). At Start the host writes the instance's pid beside the OOM marker
 * ({@link instancePidFile}), so Pause and Resume reach the instance as well as the runner.
 */
export class WasmEdgePodEngine implements WasmEngine {
  readonly name = "wasmedge-pod";
  readonly components = "none" as const;

  constructor(readonly options: WasmEdgePodEngineOptions) {}

  /** The host's command: with `--zygote`, the node's template of pods' hosts (native/wasm-host/zygote.c). */
  get zygoteArgv(): readonly string[] {
    return this.options.hostArgv;
  }

  command(launch: WasmLaunch): WasmCommand {
    validateLaunch(launch);
    const env: string[] = [
      `KW_HOST_DIR=${dirname(launch.oomMarker)}`,
      `KW_MODULE=${launch.module}`,
      `KW_OOM=${launch.oomMarker}`,
      `KW_START_FIFO=${launch.startFifo}`,
      `KW_PIDFILE=${instancePidFile(launch.oomMarker)}`,
    ];
    this.options.hostArgv.forEach((a, i) => env.push(`KW_HOST_${i}=${a}`));
    const root = launch.preopens["/"];
    if (root !== undefined) env.push(`KW_ROOT=${root}`);
    launch.args.forEach((a, i) => env.push(`KW_ARG_${i}=${a}`));
    wasiEnv(launch.env).forEach((e, i) => env.push(`KW_ENV_${i}=${e}`));
    preopenDirs("wasmedge", launch.preopens, ":", (guest, host) => `${guest}:${host}`).forEach((d, i) => env.push(`KW_DIR_${i}=${d}`));
    const pages = wasmPagesForLimit(launch.memoryLimitBytes);
    if (pages > 0) env.push(`KW_PAGES=${pages}`, `KW_MEMORY_LIMIT=${launch.memoryLimitBytes}`);
    return { argv: [this.options.runBinary], env };
  }

  /** `kuasar-wasm-run` with `KW_WARM`: starts the pod's host (unless one answers) and exits 0 once it listens. */
  warm(hostDir: string): WasmCommand {
    if (!hostDir.startsWith("/")) throw new RuntimeError(Code.InvalidArgument, `wasm host dir ${JSON.stringify(hostDir)} must be absolute`);
    return { argv: [this.options.runBinary], env: [`KW_HOST_DIR=${hostDir}`, "KW_WARM=1", ...this.options.hostArgv.map((a, i) => `KW_HOST_${i}=${a}`)] };
  }
}

/** Where the host writes a container's instance pid: the OOM marker's name with `.instance` for `.oom`. */
export function instancePidFile(oomMarker: string): string {
  return `${oomMarker.replace(/\.oom$/, "")}.instance`;
}

/**
 * The pod-level engine's programs: the runner and host built by native/, and the private
 * WasmEdge (its loader and libraries) of packaging/install-deps.sh, behind the host's own
 * libraries ({@link defaultWasmHostLibDir}). Missing: FailedPrecondition.
 */
export function locateWasmEdgePod(where: { runBinary?: string; hostBinary?: string; hostLibDir?: string; wasmedgeDir?: string } = {}): WasmEdgePodEngineOptions {
  const runBinary = where.runBinary ?? defaultWasmRunBinary;
  const hostBinary = where.hostBinary ?? defaultWasmHostBinary;
  const hostLibDir = where.hostLibDir ?? defaultWasmHostLibDir;
  const dir = where.wasmedgeDir ?? privateWasmEdgeDir();
  const loader = privateLoader(dir);
  for (const [what, path] of [["kuasar-wasm-run", runBinary], ["kuasar-wasm-host", hostBinary], ["WasmEdge's private loader", loader]] as const) {
    if (!existsSync(path)) {
      throw new RuntimeError(Code.FailedPrecondition, `wasm engine wasmedge-pod: ${what} not found at ${path} (run packaging/install-deps.sh, then make -C native)`);
    }
  }
  const [ld, flag, libs] = privateLoaderArgv(dir) as [string, string, string];
  return { runBinary, hostArgv: [ld, flag, existsSync(hostLibDir) ? `${hostLibDir}:${libs}` : libs, hostBinary] };
}
