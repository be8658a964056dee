import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveOptions, type Schema } from "../../src/config/schema.js";

interface Opts {
  listen: string;
  workers: number;
  debug: boolean;
  level: string;
  kinds: string[];
}
const schema: Schema<Opts> = {
  listen: { kind: "path", maxBytes: 107 },
  workers: { kind: "int", min: 1, max: 8 },
  debug: { kind: "bool" },
  level: { kind: "enum", values: ["info", "debug"] },
  kinds: { kind: "stringList" },
};
const defaults: Opts = { listen: "/run/x.sock", workers: 2, debug: false, level: "info", kinds: ["runc"] };

describe("resolveOptions", () => {
  it("keeps defaults and applies valid input, converting flag strings", () => {
    const got = resolveOptions(schema, defaults, { workers: "4", debug: "true", kinds: "runc, wasm" }, "");
    assert.deepEqual(got, { ...defaults, workers: 4, debug: true, kinds: ["runc", "wasm"] });
  });

  it("names the bad key with its prefix", () => {
    assert.throws(() => resolveOptions(schema, defaults, { workers: 0 }, "sandboxer."), /config sandboxer\.workers: must be at least 1/);
    assert.throws(() => resolveOptions(schema, defaults, { level: "loud" }), /config level: expected one of info, debug/);
    assert.throws(() => resolveOptions(schema, defaults, { listen: "relative.sock" }), /config listen: expected an absolute path/);
  });

  it("rejects unknown keys instead of ignoring a typo", () => {
    assert.throws(() => resolveOptions(schema, defaults, { lisen: "/a" }), (e: unknown) => {
      assert.equal((e as { code: number }).code, 3);
      assert.match((e as Error).message, /config lisen: unknown key/);
      return true;
    });
  });

  it("rejects socket paths the kernel cannot bind", () => {
    assert.throws(() => resolveOptions(schema, defaults, { listen: "/" + "a".repeat(107) }), /108 bytes, longer than 107/);
  });
});
