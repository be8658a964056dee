import { readdirSync, readlinkSync } from "node:fs";
import { locateWasmEdgePod, type WasmEdgePodEngineOptions } from "../src/sandboxers/wasm/wasmedge-pod-engine.js";

function located(): WasmEdgePodEngineOptions | undefined {
  try {
    return locateWasmEdgePod();
  } catch {
    return undefined;
  }
}

/** The pod-level wasm host's programs on this machine, undefined where they are not built. */
export const wasmEdgePodPrograms: WasmEdgePodEngineOptions | undefined = located();

/** A test's `skip` when they are not built (with what to run), else false. */
export const wasmEdgePodSkip: string | false = wasmEdgePodPrograms
  ? false
  : "the pod-level wasm host is not built: run packaging/install-deps.sh (WasmEdge), then make -C native";

/** Pids of the processes whose working directory is `dir` (a pod's wasm host runs in its socket's directory). */
export function processesWithCwd(dir: string): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => {
      try {
        return readlinkSync(`/proc/${p}/cwd`) === dir;
      } catch {
        return false;
      }
    });
}
