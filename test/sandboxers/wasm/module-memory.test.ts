import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { initialMemoryPages } from "../../../src/sandboxers/wasm/module-memory.js";
import { bigInitialMemoryModule, echoArgsEnvFileModule, watToWasm } from "../../../testing/wat-modules.js";

describe("initialMemoryPages", () => {
  it("reads a defined memory's minimum, with and without a maximum", async () => {
    assert.equal(initialMemoryPages(await bigInitialMemoryModule(300)), 300);
    assert.equal(initialMemoryPages(await watToWasm("m", `(module (memory 7 9))`)), 7);
    assert.equal(initialMemoryPages(await echoArgsEnvFileModule()), 1);
  });

  it("reads an imported memory past function, table and global imports", async () => {
    const wasm = await watToWasm("imp", `(module
      (import "a" "f" (func (param i32)))
      (import "a" "t" (table 2 funcref))
      (import "a" "g" (global i32))
      (import "a" "m" (memory 17)))`);
    assert.equal(initialMemoryPages(wasm), 17);
  });

  it("says nothing for a module without memory, a component or garbage", async () => {
    assert.equal(initialMemoryPages(await watToWasm("none", `(module (func))`)), undefined);
    assert.equal(initialMemoryPages(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0])), undefined);
    assert.equal(initialMemoryPages(new TextEncoder().encode("not wasm at all")), undefined);
    const truncated = (await bigInitialMemoryModule(5)).slice(0, 12);
    assert.equal(initialMemoryPages(truncated), undefined);
  });
});
