/** The WASI engines the wasm kind knows (`wasm_engine`); apart from the engines so the option table loads without them. */
export const wasmEngineNames = ["node", "wasmtime"] as const;

/** A name from {@link wasmEngineNames}. */
export type WasmEngineName = (typeof wasmEngineNames)[number];
