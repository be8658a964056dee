import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { wasmBinaryKind, wasmFileKind } from "../../../src/sandboxers/wasm/wasm-binary-kind.js";
import { echoReadComponent } from "../../../testing/wasm-components.js";
import { trapModule } from "../../../testing/wat-modules.js";

const header = (...bytes: number[]) => Uint8Array.from([0x00, 0x61, 0x73, 0x6d, ...bytes]);

describe("wasmBinaryKind", () => {
  it("tells a core module (version 1, layer 0) from a component (version 0x0d, layer 1)", async () => {
    assert.equal(wasmBinaryKind(header(1, 0, 0, 0)), "module");
    assert.equal(wasmBinaryKind(header(0x0d, 0, 1, 0)), "component");
    assert.equal(wasmBinaryKind(await trapModule()), "module");
    assert.equal(wasmBinaryKind(await echoReadComponent()), "component");
  });

  it("calls anything else unknown: other versions or layers, no magic, too short", () => {
    assert.equal(wasmBinaryKind(header(2, 0, 0, 0)), "unknown");
    assert.equal(wasmBinaryKind(header(0x0d, 0, 0, 0)), "unknown");
    assert.equal(wasmBinaryKind(header(1, 0, 1, 0)), "unknown");
    assert.equal(wasmBinaryKind(header(1, 0)), "unknown");
    assert.equal(wasmBinaryKind(Buffer.from("#!/bin/sh\necho hi\n")), "unknown");
    assert.equal(wasmBinaryKind(new Uint8Array()), "unknown");
  });

  it("reads a file's header only; a missing file is unknown", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "wasm-kind-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "c.wasm"), await echoReadComponent());
    writeFileSync(join(dir, "m.wasm"), await trapModule());
    assert.equal(wasmFileKind(join(dir, "c.wasm")), "component");
    assert.equal(wasmFileKind(join(dir, "m.wasm")), "module");
    assert.equal(wasmFileKind(join(dir, "none.wasm")), "unknown");
    assert.equal(wasmFileKind(dir), "unknown");
  });
});
