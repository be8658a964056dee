/**
 * The configurations one benchmark run compares, in run order. The baseline comes first;
 * everything else is reported as a ratio to it. Add a sandboxer here when it lands.
 *
 * @internal benchmark, not part of the runtime
 */
import type { BenchConfiguration } from "./bench-configuration.js";
import { gvisorMaxMemoryPods } from "./gvisor-workload.js";
import { kuasarDirectConfiguration } from "./kuasar-direct.js";
import { kuasarShimBridgeConfiguration } from "./kuasar-shim-bridge.js";
import { stockRuncV2Configuration } from "./stock-runc-v2.js";
import type { BenchWasmEngine } from "./wasm-workload.js";

/** The wasm engines measured, each on both containerd paths (issue 17). */
const wasmEngines: readonly BenchWasmEngine[] = ["node", "wasmedge-pod"];

/** Every configuration of issue 6 (plus the containerd 2.x reference, and the runc sandboxer on crun on both paths: issue 15; the wasm sandboxer on each engine: issue 17), baseline first. */
export function benchConfigurations(): BenchConfiguration[] {
  return [
    stockRuncV2Configuration({ containerdVersion: "1.7", role: "baseline" }),
    kuasarShimBridgeConfiguration("runc"),
    kuasarDirectConfiguration("runc"),
    kuasarDirectConfiguration("runc", { runtime: "crun" }),
    kuasarShimBridgeConfiguration("runc", { runtime: "crun" }),
    stockRuncV2Configuration({ containerdVersion: "2", role: "reference" }),
    ...wasmEngines.flatMap((wasmEngine) => [kuasarDirectConfiguration("wasm", { wasmEngine }), kuasarShimBridgeConfiguration("wasm", { wasmEngine })]),
    { ...kuasarDirectConfiguration("gvisor"), maxMemoryPods: gvisorMaxMemoryPods() },
    { ...kuasarShimBridgeConfiguration("gvisor"), maxMemoryPods: gvisorMaxMemoryPods() },
  ];
}
