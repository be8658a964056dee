import { podRuntimeKeys, podRuntimeOptions, type PodRuntimeKeys } from "../pod-runtime-keys.js";
import type { SandboxerKindDefinition } from "../sandboxer-kind.js";
import { wasmEngineNames, type WasmEngineName } from "./wasm-engine-names.js";

/** The wasm kind's own keys of `[sandboxers.wasm]`. */
export interface WasmKindOptions extends PodRuntimeKeys {
  wasmEngine: WasmEngineName;
  wasmtimeBinary: string;
}

export const wasmKind: SandboxerKindDefinition<WasmKindOptions> = {
  name: "wasm",
  options: {
    ...podRuntimeKeys,
    wasmEngine: { kind: "enum", values: wasmEngineNames, default: "node", doc: `The WASI engine: "node" (node:wasi on V8) or "wasmtime".` },
    wasmtimeBinary: { kind: "string", nonEmpty: true, default: "wasmtime", doc: `The wasmtime binary when wasm_engine = "wasmtime".` },
  },
  programs: (o): Record<string, string> => (o.wasmEngine === "wasmtime" ? { wasmtime: o.wasmtimeBinary } : {}),
  async create(base, o, s) {
    // Loaded only for a configured kind: a daemon carries the code of the kinds it serves.
    const { createWasmSandboxer } = await import("./wasm-sandboxer.js");
    return createWasmSandboxer({ ...podRuntimeOptions(base, o), engine: { engine: o.wasmEngine, wasmtimeBinary: o.wasmtimeBinary } }, s.log, s.events, s.minOomScoreAdj);
  },
};
