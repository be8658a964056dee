import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "../../src/errors/code.js";
import { RecordStore } from "../../src/sandbox/record-store.js";

interface Rec {
  id: string;
  pid: number;
}
const checkRec = (v: unknown): Rec => {
  const r = v as Rec;
  if (typeof r?.id !== "string" || typeof r.pid !== "number") throw new Error("not a record");
  return r;
};

function store(t: TestContext): RecordStore<Rec> {
  const dir = mkdtempSync(join(tmpdir(), "store-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return new RecordStore(join(dir, "sandboxes"), "sandbox", checkRec);
}

describe("RecordStore", () => {
  it("writes, replaces, reads and deletes records", (t) => {
    const s = store(t);
    s.put("a1", { id: "a1", pid: 1 });
    s.put("a1", { id: "a1", pid: 2 });
    assert.deepEqual(s.get("a1"), { id: "a1", pid: 2 });
    assert.ok(s.has("a1"));
    s.delete("a1");
    s.delete("a1");
    assert.throws(() => s.get("a1"), { code: Code.NotFound, message: "sandbox a1 not found" });
    assert.deepEqual(readdirSync(s.dir), []);
  });

  it("leaves no temp file behind and writes mode 0600", (t) => {
    const s = store(t);
    s.put("b", { id: "b", pid: 3 });
    assert.deepEqual(readdirSync(s.dir), ["b.json"]);
    assert.deepEqual(JSON.parse(readFileSync(join(s.dir, "b.json"), "utf8")), { id: "b", pid: 3 });
  });

  it("refuses ids that would escape the directory", (t) => {
    const s = store(t);
    for (const bad of ["../x", "a/b", "..", "", ".hidden", "a..b", "x".repeat(77)]) {
      assert.throws(() => s.put(bad, { id: bad, pid: 1 }), { code: Code.InvalidArgument }, bad);
    }
    assert.equal(existsSync(join(s.dir, "..", "x.json")), false);
  });

  it("recovers from a truncated record and a torn temp file without losing good ones", (t) => {
    const s = store(t);
    s.put("good", { id: "good", pid: 7 });
    const full = JSON.stringify({ id: "torn", pid: 8 });
    writeFileSync(join(s.dir, "torn.json"), full.slice(0, full.length - 5));
    writeFileSync(join(s.dir, "wrong.json"), JSON.stringify({ hello: 1 }));
    writeFileSync(join(s.dir, "good.json.tmp-999"), "{\"id\":\"good\",\"pid\":");
    const { records, damaged } = s.loadAll();
    assert.deepEqual([...records.keys()], ["good"]);
    assert.equal(records.get("good")!.pid, 7);
    assert.deepEqual(damaged.map((d) => d.id).sort(), ["torn", "wrong"]);
    assert.deepEqual(readdirSync(s.dir).sort(), ["good.json", "torn.json.damaged", "wrong.json.damaged"]);
    // A second load sees the same good state and nothing new to quarantine.
    assert.deepEqual(s.loadAll().damaged, []);
  });
});
