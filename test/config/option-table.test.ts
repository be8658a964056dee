import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultsOf, resolveTable, tomlKeysOf, type OptionTable } from "../../src/config/option-table.js";

interface Opts {
  listen: string;
  workerCount: number;
  debug: boolean;
  level: string;
  kinds: string[];
  inner: { sizeMb: number };
}
const table: OptionTable<Opts> = {
  listen: { kind: "path", maxBytes: 107, default: "/run/x.sock", doc: "" },
  workerCount: { kind: "int", min: 1, max: 8, default: 2, doc: "" },
  debug: { kind: "bool", default: false, doc: "" },
  level: { kind: "enum", values: ["info", "debug"], default: "info", doc: "" },
  kinds: { kind: "stringList", default: ["runc"], doc: "" },
  inner: { kind: "table", table: { sizeMb: { kind: "int", min: 1, default: 64, doc: "" } }, doc: "" },
};
const defaults: Opts = { listen: "/run/x.sock", workerCount: 2, debug: false, level: "info", kinds: ["runc"], inner: { sizeMb: 64 } };

describe("option tables", () => {
  it("hold the defaults, nested tables included", () => {
    assert.deepEqual(defaultsOf(table), defaults);
    assert.deepEqual(tomlKeysOf(table), ["listen", "worker_count", "debug", "level", "kinds", "inner.size_mb"]);
  });

  it("keep defaults and apply valid snake_case input, converting flag strings", () => {
    const got = resolveTable(table, { worker_count: "4", debug: "true", kinds: "runc, wasm", inner: { size_mb: 8 } }, "t");
    assert.deepEqual(got, { ...defaults, workerCount: 4, debug: true, kinds: ["runc", "wasm"], inner: { sizeMb: 8 } });
  });

  it("name the table and the bad key", () => {
    assert.throws(() => resolveTable(table, { worker_count: 0 }, "sandboxers.runc"), /config \[sandboxers\.runc\] worker_count: must be at least 1/);
    assert.throws(() => resolveTable(table, { level: "loud" }, ""), /config level: expected one of info, debug/);
    assert.throws(() => resolveTable(table, { listen: "relative.sock" }, "t"), /config \[t\] listen: expected an absolute path/);
    assert.throws(() => resolveTable(table, { inner: { size_mb: 0 } }, "t"), /config \[t\.inner\] size_mb: must be at least 1/);
    assert.throws(() => resolveTable(table, { inner: 3 }, "t"), /config \[t\] inner: expected a table/);
  });

  it("reject unknown keys instead of ignoring a typo, saying whose key it is when another table has it", () => {
    assert.throws(() => resolveTable(table, { lisen: "/a" }, "t"), (e: unknown) => {
      assert.equal((e as { code: number }).code, 3);
      assert.match((e as Error).message, /config \[t\] lisen: not a key of this table \(known: listen, worker_count/);
      return true;
    });
    assert.throws(() => resolveTable(table, { runsc_platform: "kvm" }, "sandboxers.runc", (k) => (k === "runsc_platform" ? "gvisor" : undefined)), /config \[sandboxers\.runc\] runsc_platform: not a key of the runc kind \(it belongs to gvisor\)/);
  });

  it("reject socket paths the kernel cannot bind", () => {
    assert.throws(() => resolveTable(table, { listen: "/" + "a".repeat(107) }, "t"), /108 bytes, longer than 107/);
  });
});
