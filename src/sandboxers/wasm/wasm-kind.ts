import { podRuntimeKeys, podRuntimeOptions, type PodRuntimeKeys } from "../pod-runtime-keys.js";
import type { SandboxerKindDefinition } from "../sandboxer-kind.js";
import { wasmEngineNames, type WasmEngineName } from "./wasm-engine-names.js";
import { defaultWasmHostBinary } from "./wasmedge-pod-engine.js";

/** The wasm kind's own keys of `[sandboxers.wasm]`. */
export interface WasmKindOptions extends PodRuntimeKeys {
  wasmEngine: WasmEngineName;
  wasmtimeBinary: string;
  wasmedgeBinary: string;
}

export const wasmKind: SandboxerKindDefinition<WasmKindOptions> = {
  name: "wasm",
  options: {
    ...podRuntimeKeys,
    wasmEngine: {
      kind: "enum",
      values: wasmEngineNames,
      default: "node",
      doc: `The pods' default WASI engine: "node" (node:wasi on V8), "wasmtime", "wasmedge" (its CLI per container) or "wasmedge-pod" (one WasmEdge host per pod, a fork per container); a pod picks another with the annotation io.kuasar.wasm.engine.`,
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
