import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "../../src/errors/code.js";
import { writeFileAtomic } from "../../src/fs/atomic-write.js";
import { RecordStore } from "../../src/sandbox/record-store.js";
import { fillDisk, tinyDisk, tinyDiskSkip } from "../../testing/tiny-disk.js";

describe("writeFileAtomic", () => {
  it("replaces the file whole, with the mode asked, and leaves no temp file", (t) => {
    const dir = mkdtempSync(join(tmpdir(), "atomic-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "r.json");
    writeFileAtomic(path, "old");
    const big = "y".repeat(3 << 20); // more than one write(2) may take at once on some file systems
    writeFileAtomic(path, big, 0o640);
    assert.equal(readFileSync(path, "utf8"), big);
    assert.equal(statSync(path).mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(dir), ["r.json"]);
  });

  it("on a full disk fails with ResourceExhausted, keeps the old content and removes its temp file", { skip: tinyDiskSkip }, (t) => {
    const dir = tinyDisk(t);
    const path = join(dir, "good.json");
    const good = JSON.stringify({ id: "good", pid: 42 });
    writeFileAtomic(path, good);
    fillDisk(dir);
    // Bigger than what is left and than the whole disk: the write starts, then runs out of room.
    assert.throws(() => writeFileAtomic(path, JSON.stringify({ id: "good", pad: "z".repeat(128 << 10) })), {
      code: Code.ResourceExhausted,
      message: new RegExp(`cannot write good.json in ${dir}: no space left on device`),
    });
    assert.equal(readFileSync(path, "utf8"), good, "the good record is intact");
    assert.deepEqual(readdirSync(dir).filter((n) => !n.startsWith("filler-")), ["good.json"], "no temp file left");
  });

  it("a record store on a full disk refuses the put and still reads every good record", { skip: tinyDiskSkip }, (t) => {
    const dir = tinyDisk(t);
    const store = new RecordStore<{ id: string; n: number }>(join(dir, "sandboxes"), "sandbox", (v) => v as { id: string; n: number });
    store.put("a", { id: "a", n: 1 });
    fillDisk(dir);
    assert.throws(() => store.put("a", { id: "a", n: 2 }), { code: Code.ResourceExhausted });
    assert.throws(() => store.put("b", { id: "b", n: 3 }), { code: Code.ResourceExhausted });
    const { records, damaged } = store.loadAll();
    assert.deepEqual([...records.entries()], [["a", { id: "a", n: 1 }]]);
    assert.deepEqual(damaged, []);
    assert.deepEqual(readdirSync(store.dir), ["a.json"]);
  });
});
