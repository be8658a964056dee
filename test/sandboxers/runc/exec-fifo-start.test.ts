import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "../../../src/errors/code.js";
import type { HolderExit } from "../../../src/holder/holder-protocol.js";
import type { Pod } from "../../../src/pod/pod.js";
import { startByWritingExecFifo, startThroughExecFifo } from "../../../src/sandboxers/runc/exec-fifo-start.js";

/** Just what the start needs of a pod: exits reported by its (fake) supervisor. */
class FakePod {
  readonly clockSkewMs = 0;
  private readonly exits: HolderExit[] = [];
  private readonly listeners = new Set<(e: HolderExit) => void>();
  exitOf(pid: number): HolderExit | undefined {
    return this.exits.find((e) => e.pid === pid);
  }
  onExit(fn: (e: HolderExit) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  exit(pid: number): void {
    const e: HolderExit = { pid, status: 0, exitedAt: new Date(), seconds: 0n, nanos: 0, id: undefined };
    this.exits.push(e);
    for (const l of this.listeners) l(e);
  }
}

function setUp(t: TestContext) {
  const root = mkdtempSync(join(tmpdir(), "fifo-start-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, "c1"));
  const fifo = join(root, "c1", "exec.fifo");
  execFileSync("mkfifo", [fifo]);
  const pod = new FakePod();
  const target = { root, id: "c1", pod: pod as unknown as Pod, initPid: 4242, createdAt: new Date(Date.now() - 1000), timeoutMs: 5000 };
  return { root, fifo, pod, target };
}

/** What runc's init does: blocks opening the fifo for writing until someone reads, writes one byte. */
function fakeInit(fifo: string) {
  const child = spawn("sh", ["-c", `printf 0 > '${fifo}'`], { stdio: "ignore" });
  return new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
}

describe("startThroughExecFifo", () => {
  it("opens the fifo, takes the init's byte and removes the fifo (runc start)", async (t) => {
    const { fifo, target } = setUp(t);
    const init = fakeInit(fifo);
    assert.equal(await startThroughExecFifo(target), true);
    assert.equal(await init, 0, "the init got past its open and wrote");
    assert.equal(existsSync(fifo), false, "a started container has no exec.fifo");
  });

  it("resolves false without a fifo, so the caller runs runc start", async (t) => {
    const { target, fifo } = setUp(t);
    rmSync(fifo);
    assert.equal(await startThroughExecFifo(target), false);
    writeFileSync(fifo, "not a fifo");
    assert.equal(await startThroughExecFifo(target), false);
  });

  it("fails FailedPrecondition when the init exits without writing, and leaves the fifo", async (t) => {
    const { target, pod, fifo } = setUp(t);
    const started = startThroughExecFifo(target);
    setTimeout(() => pod.exit(4242), 20);
    await assert.rejects(started, (err: { code: number; message: string }) => err.code === Code.FailedPrecondition && /already dead/.test(err.message));
    assert.equal(existsSync(fifo), true);
  });

  it("counts a byte written before an exit already reported as started", async (t) => {
    const { target, pod, fifo } = setUp(t);
    // The byte is in the fifo (written while another reader held it open) before the start looks.
    const holdOpen = spawn("sh", ["-c", `exec 3<>'${fifo}'; printf 0 >&3; sleep 0.5`], { stdio: "ignore" });
    t.after(() => holdOpen.kill());
    await new Promise((r) => setTimeout(r, 100));
    pod.exit(4242);
    assert.equal(await startThroughExecFifo(target), true);
    assert.equal(existsSync(fifo), false);
  });

  it("ends with the caller's signal, and with the deadline", async (t) => {
    const { target } = setUp(t);
    const ac = new AbortController();
    const started = startThroughExecFifo({ ...target, signal: ac.signal });
    ac.abort(new Error("gave up"));
    await assert.rejects(started, (err: { code: number }) => err.code === Code.Canceled);
    await assert.rejects(startThroughExecFifo({ ...target, timeoutMs: 50 }), (err: { code: number }) => err.code === Code.DeadlineExceeded);
  });
});

describe("startByWritingExecFifo (crun's exec fifo)", () => {
  it("writes the byte the init reads and removes the fifo (crun start)", (t) => {
    const { root, fifo } = setUp(t);
    // crun create opens the read end, non-blocking, and leaves it to the init.
    const init = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    t.after(() => closeSync(init));
    assert.equal(startByWritingExecFifo(root, "c1"), true);
    assert.equal(existsSync(fifo), false, "the fifo gone: crun's state says running");
    const got = Buffer.alloc(2);
    assert.equal(readSync(init, got), 1, "one byte for the init");
    assert.equal(got[0], 0);
  });

  it("fails FailedPrecondition at once when no init holds the read end, and returns false without a fifo", (t) => {
    const { root, fifo } = setUp(t);
    assert.throws(() => startByWritingExecFifo(root, "c1"), (err: { code: number; message: string }) => err.code === Code.FailedPrecondition && /already dead/.test(err.message));
    assert.equal(existsSync(fifo), true, "left for crun's own error");
    assert.equal(startByWritingExecFifo(root, "c2"), false);
    writeFileSync(join(root, "c1", "not-a-fifo"), "");
    rmSync(fifo);
    writeFileSync(fifo, "");
    assert.equal(startByWritingExecFifo(root, "c1"), false, "a plain file is not crun's fifo");
  });
});
