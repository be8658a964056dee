/**
 * The configurations one benchmark run compares, in run order. The baseline comes first;
 * everything else is reported as a ratio to it. Add a sandboxer here when it lands.
 *
 * @internal benchmark, not part of the runtime
 */
import type { BenchConfiguration } from "./bench-configuration.js";
import { kuasarDirectConfiguration } from "./kuasar-direct.js";
import { kuasarShimBridgeConfiguration } from "./kuasar-shim-bridge.js";
import { plannedConfiguration } from "./planned-configuration.js";
import { stockRuncV2Configuration } from "./stock-runc-v2.js";

/** Every configuration of issue 6 (plus the containerd 2.x reference), baseline first. */
export function benchConfigurations(): BenchConfiguration[] {
  return [
    stockRuncV2Configuration({ containerdVersion: "1.7", role: "baseline" }),
    kuasarShimBridgeConfiguration(),
    kuasarDirectConfiguration(),
    stockRuncV2Configuration({ containerdVersion: "2", role: "reference" }),
    plannedConfiguration({
      id: "kuasar-wasm-direct-ctrd2",
      label: "ours: wasm sandboxer direct, containerd 2.x",
      containerdVersion: "2",
      description: "stock containerd 2.x with the wasm sandboxer as proxy sandbox plugin, a WASI workload",
      reason: "wasm sandboxer (issue 5) and a WASI workload image for the benchmark",
    }),
    plannedConfiguration({
      id: "kuasar-wasm-bridge-ctrd17",
      label: "ours: wasm sandboxer via shim bridge, containerd 1.7",
      containerdVersion: "1.7",
      description: "stock containerd 1.7 with io.containerd.kuasar.v1 routed to the wasm sandboxer, a WASI workload",
      reason: "wasm sandboxer (issue 5) behind the shim bridge, and a WASI workload image for the benchmark",
    }),
  ];
}
