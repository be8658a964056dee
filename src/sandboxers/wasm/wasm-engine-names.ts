/** The WASI engines the wasm kind knows (`wasm_engine`); apart from the engines so the option table loads without them. */
export const wasmEngineNames = ["node", "wasmtime", "wasmedge", "wasmedge-pod"] as const;

/** A name from {@link wasmEngineNames}. */
export type WasmEngineName = (typeof wasmEngineNames)[number];

/**
 * What `wasm_engine` may say: an engine, or `"auto"`: `wasmedge-pod` where it is installed (its
 * host built and WasmEdge's private copy present), else `node`, which needs nothing installed.
 * Annotations name engines only.
 */
export const wasmEngineSettings = [...wasmEngineNames, "auto"] as const;

/** A value from {@link wasmEngineSettings}. */
export type WasmEngineSetting = (typeof wasmEngineSettings)[number];
