import { podRuntimeKeys, podRuntimeOptions, type PodRuntimeKeys } from "../pod-runtime-keys.js";
import type { SandboxerKindDefinition } from "../sandboxer-kind.js";
import { wasmEngineSettings, type WasmEngineSetting } from "./wasm-engine-names.js";
import { defaultWasmHostBinary } from "./wasmedge-pod-engine.js";

/** The wasm kind's own keys of `[sandboxers.wasm]`. */
export interface WasmKindOptions extends PodRuntimeKeys {
  wasmEngine: WasmEngineSetting;
  wasmtimeBinary: string;
  wasmedgeBinary: string;
}

export const wasmKind: SandboxerKindDefinition<WasmKindOptions> = {
  name: "wasm",
  options: {
    ...podRuntimeKeys,
    wasmEngine: {
      kind: "enum",
      values: wasmEngineSettings,
      // wasmedge-pod where installed: a container costs a fork of the pod's host (issue 17, docs/adr/0008-wasm-pod-host.md).
      default: "auto",
      doc: `The pods' default WASI engine: "node" (node:wasi on V8), "wasmtime", "wasmedge" (its CLI per container), "wasmedge-pod" (one WasmEdge host per pod, a fork per container) or "auto" (wasmedge-pod where it is installed, else node; the choice is in kuasar-ctl status); a pod picks another with the annotation io.kuasar.wasm.engine.`,
    },
    wasmtimeBinary: { kind: "string", nonEmpty: true, default: "wasmtime", doc: `The wasmtime binary of the "wasmtime" engine.` },
    wasmedgeBinary: {
      kind: "string",
      nonEmpty: true,
      default: "wasmedge",
      doc: `The WasmEdge CLI of the "wasmedge" engine: "wasmedge" is the private copy of packaging/install-deps.sh, else wasmedge on PATH.`,
    },
  },
  programs: (o): Record<string, string> =>
    o.wasmEngine === "wasmtime"
      ? { wasmtime: o.wasmtimeBinary }
      : o.wasmEngine === "wasmedge"
        ? { wasmedge: o.wasmedgeBinary }
        : o.wasmEngine === "wasmedge-pod"
          ? { "wasmedge-pod": defaultWasmHostBinary }
          : {},
  async create(base, o, s) {
    // Loaded only for a configured kind: a daemon carries the code of the kinds it serves.
    const { createWasmSandboxer } = await import("./wasm-sandboxer.js");
    return createWasmSandboxer({ ...podRuntimeOptions(base, o), engine: { engine: o.wasmEngine, wasmtimeBinary: o.wasmtimeBinary, wasmedgeBinary: o.wasmedgeBinary } }, s.log, s.events, s.minOomScoreAdj, s.containerdTtrpcAddress);
  },
};
