import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { readSmallFileSync } from "../../src/fs/read-text.js";
import { readSpec, sandboxIdOf } from "../../src/pod/bundle.js";

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync("/tmp/read-text-");
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("readSmallFileSync (a bundle's files, read on the event loop)", () => {
  it("reads a regular file whole, including one exactly at the limit", (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, "f"), "héllo");
    assert.equal(readSmallFileSync(join(dir, "f"), 6), "héllo");
    writeFileSync(join(dir, "empty"), "");
    assert.equal(readSmallFileSync(join(dir, "empty"), 0), "");
  });

  it("refuses, without blocking, a FIFO with no writer, a directory and a file over the limit; a missing file keeps its errno", (t) => {
    const dir = tempDir(t);
    execFileSync("mkfifo", [join(dir, "fifo")]);
    assert.throws(() => readSmallFileSync(join(dir, "fifo"), 1024), { code: Code.InvalidArgument, message: /not a regular file/ });
    mkdirSync(join(dir, "d"));
    assert.throws(() => readSmallFileSync(join(dir, "d"), 1024), { code: Code.InvalidArgument, message: /not a regular file/ });
    writeFileSync(join(dir, "big"), "x".repeat(11));
    assert.throws(() => readSmallFileSync(join(dir, "big"), 10), { code: Code.InvalidArgument, message: /11 bytes, more than the 10 allowed/ });
    assert.throws(() => readSmallFileSync(join(dir, "missing"), 10), { code: "ENOENT" });
  });

  it("a bundle whose config.json is a FIFO is InvalidArgument at once; its sandbox file, when not regular, leaves the annotation to say", (t) => {
    const dir = tempDir(t);
    execFileSync("mkfifo", [join(dir, "config.json")]);
    assert.throws(() => readSpec(dir), { code: Code.InvalidArgument, message: /cannot read config\.json: .*not a regular file/ });
    rmSync(join(dir, "config.json"));
    writeFileSync(join(dir, "config.json"), JSON.stringify({ annotations: { "io.kubernetes.cri.sandbox-id": "pod-a" } }));
    execFileSync("mkfifo", [join(dir, "sandbox")]);
    assert.equal(sandboxIdOf(dir, readSpec(dir)), "pod-a");
    rmSync(join(dir, "sandbox"));
    writeFileSync(join(dir, "sandbox"), "pod-b\n");
    assert.equal(sandboxIdOf(dir, readSpec(dir)), "pod-b");
  });
});
