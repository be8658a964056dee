import assert from "node:assert/strict";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../../src/errors/code.js";
import { engineFromOptions, resolveWasmEngineOptions } from "../../../src/sandboxers/wasm/engine-from-options.js";
import { NodeWasiEngine } from "../../../src/sandboxers/wasm/node-wasi-engine.js";
import { WasmEdgeEngine } from "../../../src/sandboxers/wasm/wasmedge-engine.js";
import { WasmtimeEngine } from "../../../src/sandboxers/wasm/wasmtime-engine.js";
import { workspace } from "./runner-process.js";

describe("engineFromOptions", () => {
  it("defaults to the node engine on the daemon's own node", () => {
    const engine = engineFromOptions();
    assert.ok(engine instanceof NodeWasiEngine);
    assert.equal(engine.name, "node");
    assert.equal(engine.options.nodeBinary, process.execPath);
  });

  it("resolves wasmtime on PATH to an absolute path", (t) => {
    const ws = workspace(t);
    const bin = join(ws.dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "wasmtime"), "#!/bin/sh\n");
    chmodSync(join(bin, "wasmtime"), 0o755);
    const engine = engineFromOptions({ engine: "wasmtime", wasmtimeArgs: ["-O", "opt-level=0"] }, `/nonexistent:${bin}`);
    assert.ok(engine instanceof WasmtimeEngine);
    assert.equal(engine.options.binary, join(bin, "wasmtime"));
    assert.deepEqual(engine.options.extraArgs, ["-O", "opt-level=0"]);
  });

  it("runs wasmedge through the private copy's own loader, else finds it on PATH", (t) => {
    const ws = workspace(t);
    const priv = join(ws.dir, "deps-wasmedge");
    const lib = join(priv, "usr/lib/x86_64-linux-gnu");
    mkdirSync(lib, { recursive: true });
    mkdirSync(join(priv, "usr/bin"));
    writeFileSync(join(lib, "ld-linux-x86-64.so.2"), "");
    writeFileSync(join(priv, "usr/bin/wasmedge"), "");
    const engine = engineFromOptions({ engine: "wasmedge", wasmedgeArgs: ["--enable-jit"] }, "/nonexistent", priv);
    assert.ok(engine instanceof WasmEdgeEngine);
    assert.deepEqual(engine.options.wasmedge, [join(lib, "ld-linux-x86-64.so.2"), "--library-path", lib, join(priv, "usr/bin/wasmedge")]);
    assert.deepEqual(engine.options.extraArgs, ["--enable-jit"]);

    const bin = join(ws.dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "wasmedge"), "#!/bin/sh\n");
    chmodSync(join(bin, "wasmedge"), 0o755);
    const onPath = engineFromOptions({ engine: "wasmedge" }, bin, join(ws.dir, "none"));
    assert.deepEqual((onPath as WasmEdgeEngine).options.wasmedge, [join(bin, "wasmedge")]);
    assert.throws(() => engineFromOptions({ engine: "wasmedge" }, "/nonexistent", join(ws.dir, "none")), {
      code: Code.FailedPrecondition,
      message: /wasm engine wasmedge: binary "wasmedge" not found or not executable \(nor the private copy/,
    });
  });

  it("fails with FailedPrecondition when the binary is missing", () => {
    assert.throws(() => engineFromOptions({ engine: "wasmtime" }, "/nonexistent"), {
      code: Code.FailedPrecondition,
      message: 'wasm engine wasmtime: binary "wasmtime" not found or not executable',
    });
    assert.throws(() => engineFromOptions({ nodeBinary: "/nonexistent/node" }), { code: Code.FailedPrecondition, message: /wasm engine node: binary/ });
  });

  it("validates options eagerly, naming the field", () => {
    assert.throws(() => resolveWasmEngineOptions({ engine: "wamr" as "node" }), { code: Code.InvalidArgument, message: /unknown engine "wamr" \(known: node, wasmtime, wasmedge, wasmedge-pod, auto\)/ });
    assert.throws(() => resolveWasmEngineOptions({ wasmedgeArgs: [1] as unknown as string[] }), { code: Code.InvalidArgument, message: /wasmedgeArgs/ });
    assert.throws(() => resolveWasmEngineOptions({ nodeMaxOldSpaceMiB: 1 }), { code: Code.InvalidArgument, message: /nodeMaxOldSpaceMiB/ });
    assert.throws(() => resolveWasmEngineOptions({ wasmtimeArgs: "x" as unknown as string[] }), { code: Code.InvalidArgument, message: /wasmtimeArgs/ });
  });
});
