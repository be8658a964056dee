import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "../../../src/errors/code.js";
import { RuntimeError } from "../../../src/errors/runtime-error.js";
import type { WasmEngineOptions } from "../../../src/sandboxers/wasm/engine-from-options.js";
import { WASM_ENGINE_ANNOTATION, WasmEngines } from "../../../src/sandboxers/wasm/engine-choice.js";
import type { WasmEngine } from "../../../src/sandboxers/wasm/wasm-engine.js";

/** Engines that are only names; "wasmtime" is not installed. */
function fakeMake(made: string[]) {
  return (o: Partial<WasmEngineOptions>): WasmEngine => {
    const name = o.engine ?? "node";
    if (name === "wasmtime") throw new RuntimeError(Code.FailedPrecondition, 'wasm engine wasmtime: binary "wasmtime" not found or not executable');
    made.push(name);
    return { name, components: name === "node" ? "transpiled" : "none", command: () => ({ argv: [name], env: [] }) };
  };
}

describe("WasmEngines", () => {
  it("under \"auto\" takes wasmedge-pod where it can be made, else node, saying why", () => {
    const installed = new WasmEngines({ engine: "auto" }, fakeMake([]));
    assert.equal(installed.default.name, "wasmedge-pod");
    assert.deepEqual(installed.facts(), { wasm_engine: "wasmedge-pod" });
    const missing = "wasm engine wasmedge-pod: kuasar-wasm-host not found at /x (run packaging/install-deps.sh, then make -C native)";
    const bare = new WasmEngines({ engine: "auto" }, (o) => {
      if (o.engine === "wasmedge-pod") throw new RuntimeError(Code.FailedPrecondition, missing);
      return fakeMake([])(o);
    });
    assert.equal(bare.default.name, "node");
    assert.deepEqual(bare.facts(), { wasm_engine: "node", wasm_engine_fallback: missing });
    // An annotation still reaches the other engines.
    assert.equal(installed.choose({ [WASM_ENGINE_ANNOTATION]: "node" }).name, "node");
  });

  it("uses the configured engine unless an annotation names another, making each once", () => {
    const made: string[] = [];
    const engines = new WasmEngines({ engine: "node" }, fakeMake(made));
    assert.equal(engines.choose().name, "node");
    assert.equal(engines.choose({}, { other: "x" }).name, "node");
    const edge = engines.choose(undefined, { [WASM_ENGINE_ANNOTATION]: "wasmedge" });
    assert.equal(edge.name, "wasmedge");
    assert.equal(engines.choose({ [WASM_ENGINE_ANNOTATION]: "wasmedge" }), edge);
    assert.deepEqual(made, ["node", "wasmedge"]);
  });

  it("lets the container's annotation win over the pod's", () => {
    const engines = new WasmEngines({ engine: "node" }, fakeMake([]));
    assert.equal(engines.choose({ [WASM_ENGINE_ANNOTATION]: "node" }, { [WASM_ENGINE_ANNOTATION]: "wasmedge" }).name, "node");
  });

  it("refuses an unknown name and an engine that is not installed, naming the annotation", () => {
    const engines = new WasmEngines({ engine: "node" }, fakeMake([]));
    assert.throws(() => engines.choose({ [WASM_ENGINE_ANNOTATION]: "wamr" }), { code: Code.InvalidArgument, message: /annotation io\.kuasar\.wasm\.engine: unknown wasm engine "wamr" \(known: node, wasmtime, wasmedge, wasmedge-pod\)/ });
    assert.throws(() => engines.choose({ [WASM_ENGINE_ANNOTATION]: "wasmtime" }), { code: Code.FailedPrecondition, message: /annotation io\.kuasar\.wasm\.engine: wasm engine wasmtime: binary/ });
  });

  it("runs a component nobody named an engine for on node when the default cannot run components; an annotation still decides", () => {
    const engines = new WasmEngines({ engine: "auto" }, fakeMake([]));
    assert.equal(engines.chooseFor(false).name, "wasmedge-pod");
    assert.equal(engines.chooseFor(true).name, "node");
    assert.equal(engines.chooseFor(true, { [WASM_ENGINE_ANNOTATION]: "wasmedge-pod" }).name, "wasmedge-pod", "asked for: refused later with the reason");
    assert.equal(new WasmEngines({ engine: "node" }, fakeMake([])).chooseFor(true).name, "node");
  });
});
