import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { constants, closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isErrorCode } from "../../../src/errors/runtime-error.js";
import { Code } from "../../../src/errors/code.js";
import { releaseStartFifo } from "../../../src/sandboxers/wasm/start-fifo.js";

function fifo(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "start-fifo-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "c1.start");
  execFileSync("mkfifo", ["-m", "0600", path]);
  return path;
}

/** A runner stand-in: opens the FIFO for reading (blocking) and prints the byte it gets. */
function reader(t: TestContext, path: string): { pid: number; got: Promise<string> } {
  const p = spawn("head", ["-c", "1", path], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => p.kill("SIGKILL"));
  let out = "";
  p.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  return { pid: p.pid!, got: new Promise((resolve) => p.on("close", () => resolve(out))) };
}

/** Until `pid` blocks in openat(2) (the reader waiting for a writer): the test's own wait, the code under test has none. */
async function blockedInOpen(pid: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (readFileSync(`/proc/${pid}/syscall`, "utf8").startsWith("257 ")) return;
    await sleep(5);
  }
  throw new Error("the reader never blocked in open");
}

const openFds = (): number => readdirSync("/proc/self/fd").length;
const never = new AbortController().signal;

describe("releaseStartFifo", () => {
  it("a runner already waiting gets the byte at once", async (t) => {
    const path = fifo(t);
    const r = reader(t, path);
    await blockedInOpen(r.pid);
    assert.equal(await releaseStartFifo(path, { exited: never, signal: never }), "started");
    assert.equal(await r.got, "s");
  });

  it("waits without polling for a runner that opens its end later, then starts it", async (t) => {
    const path = fifo(t);
    const before = openFds();
    const released = releaseStartFifo(path, { exited: never, signal: never });
    await sleep(100); // the runner is still loading its module
    const r = reader(t, path);
    assert.equal(await released, "started");
    assert.equal(await r.got, "s");
    assert.equal(openFds(), before, "no fd left open");
  });

  it("resolves exited when the runner exits before opening its end, and writes nothing", async (t) => {
    const path = fifo(t);
    const before = openFds();
    const exited = new AbortController();
    const released = releaseStartFifo(path, { exited: exited.signal, signal: never });
    await sleep(50);
    exited.abort();
    assert.equal(await released, "exited");
    assert.equal(openFds(), before, "no fd left open (the pending open was woken and closed)");
    // Nothing was written: a late reader sees end of file once a writer comes and goes without a byte.
    const late = reader(t, path);
    await blockedInOpen(late.pid);
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    assert.equal(await late.got, "");
  });

  it("a runner already exited: no wait at all", async (t) => {
    const path = fifo(t);
    const exited = new AbortController();
    exited.abort();
    assert.equal(await releaseStartFifo(path, { exited: exited.signal, signal: never }), "exited");
  });

  it("the caller's deadline rejects with its reason and frees the pending open, even with the FIFO unlinked meanwhile", async (t) => {
    const path = fifo(t);
    const before = openFds();
    const deadline = new AbortController();
    const released = releaseStartFifo(path, { exited: never, signal: deadline.signal });
    await sleep(50);
    rmSync(path); // a Delete removed the container's files
    deadline.abort(new Error("deadline"));
    await assert.rejects(released, (err: unknown) => isErrorCode(err, Code.Canceled) || isErrorCode(err, Code.Unknown) || isErrorCode(err, Code.Internal));
    assert.equal(openFds(), before, "no fd left open, no pool thread left blocked");
  });

  it("a missing FIFO is an error, not a wait", async (t) => {
    const path = fifo(t);
    rmSync(path);
    await assert.rejects(releaseStartFifo(path, { exited: never, signal: never }), (err: unknown) => isErrorCode(err, Code.NotFound) || isErrorCode(err, Code.Internal));
  });
});
