import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync, readSync, writeSync } from "node:fs";
import { describe, it, type TestContext } from "node:test";
import { ROUTE_KEY } from "../../src/endpoint/route.js";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import { TtrpcClient } from "../../src/ttrpc/client.js";
import { TtrpcServer } from "../../src/ttrpc/server.js";
import { startEndpoint, type EndpointProcess } from "../../testing/endpoint-process.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const TASK = "containerd.task.v3.Task";

/** A stand-in kuasard: answers `<Method>` with "<route>:<method>:<payload>"; methods in `hang` never answer. */
async function backend(t: TestContext, path: string, opts: { hang?: Set<string> } = {}) {
  const calls: string[] = [];
  const server = new TtrpcServer({
    fallback: async (payload, ctx) => {
      calls.push(ctx.method);
      if (opts.hang?.has(ctx.method)) await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
      return enc(`${ctx.metadata.get(ROUTE_KEY)?.[0]}:${ctx.method}:${dec(payload)}`);
    },
  });
  await server.listen(path);
  t.after(() => server.destroy());
  return { server, calls };
}

async function setup(t: TestContext) {
  const ep = await startEndpoint();
  const task = `${ep.dir}/task.sock`;
  t.after(() => ep.stop());
  const api = await ep.control();
  await api.listen({ route: "task/runc", path: task });
  const containerd = await TtrpcClient.connect(`unix://${task}`);
  t.after(() => containerd.destroy());
  return { ep, api, containerd, task };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

function kill9(pid: number): void {
  process.kill(pid, "SIGKILL");
}

describe("kuasar-endpoint relay", () => {
  it("relays calls to kuasard tagged with the route, and Listen is idempotent", async (t) => {
    const { ep, api, containerd, task } = await setup(t);
    await backend(t, ep.paths.backend);
    assert.equal(dec(await containerd.call(TASK, "State", enc("c1"))), "task/runc:State:c1");
    await api.listen({ route: "task/runc", path: task });
    await assert.rejects(api.listen({ route: "task/runc", path: `${task}2` }), { code: Code.AlreadyExists });
    await assert.rejects(api.listen({ route: "", path: `${task}3` }), { code: Code.InvalidArgument });
    await assert.rejects(api.listen({ route: "x", path: `/${"d".repeat(120)}/t.sock` }), { code: Code.InvalidArgument });
    const st = await api.status({});
    assert.equal(st.listeners["task/runc"], task);
    assert.equal(st.backendConnected, true);
    assert.equal(st.connections, 1);
    assert.equal(st.relayGeneration, 1);
    assert.notEqual(st.custodyPid, 0);
  });

  it("holds calls made while kuasard is down and delivers them when it comes back", async (t) => {
    const { ep, containerd } = await setup(t);
    const early = containerd.call(TASK, "Create", enc("c2"));
    await new Promise((r) => setTimeout(r, 100));
    await backend(t, ep.paths.backend);
    assert.equal(dec(await early), "task/runc:Create:c2");
  });

  it("keeps containerd's connection across a kuasard crash; re-issues Wait, fails Start with Unavailable", async (t) => {
    const { ep, api, containerd } = await setup(t);
    const first = await backend(t, ep.paths.backend, { hang: new Set(["Wait", "Start"]) });
    const wait = containerd.call(TASK, "Wait", enc("c3"));
    const start = containerd.call(TASK, "Start", enc("c3"));
    await until(() => first.calls.length >= 2);
    await first.server.destroy(); // kuasard dies with both calls in flight
    await assert.rejects(start, { code: Code.Unavailable, message: /kuasard restarted during Start/ });
    const second = await backend(t, ep.paths.backend);
    assert.equal(dec(await wait), "task/runc:Wait:c3");
    assert.deepEqual(second.calls, ["Wait"]);
    assert.equal(containerd.closed, false);
    assert.equal((await api.status({})).connections, 1);
  });

  it("honours the caller's deadline while kuasard is away", async (t) => {
    const { containerd } = await setup(t);
    await assert.rejects(containerd.call(TASK, "State", enc("c4"), { timeoutMs: 100 }), { code: Code.DeadlineExceeded });
    assert.equal(containerd.closed, false);
  });

  it("passes kuasard's errors through unchanged", async (t) => {
    const { ep, containerd } = await setup(t);
    const server = new TtrpcServer();
    server.register(TASK, {
      Kill: async () => {
        throw new RuntimeError(Code.NotFound, "process already finished");
      },
    });
    await server.listen(ep.paths.backend);
    t.after(() => server.destroy());
    await assert.rejects(containerd.call(TASK, "Kill", new Uint8Array()), { code: Code.NotFound, message: "process already finished" });
    await assert.rejects(containerd.call(TASK, "Nope", new Uint8Array()), { code: Code.Unimplemented, message: "method Nope" });
  });

  it("answers a malformed request with InvalidArgument and keeps the connection", async (t) => {
    const { ep, containerd } = await setup(t);
    await backend(t, ep.paths.backend);
    await assert.rejects(containerd.call("", "State", enc("x")), { code: Code.InvalidArgument });
    assert.equal(dec(await containerd.call(TASK, "State", enc("ok"))), "task/runc:State:ok");
  });
});

/** What a reader of a FIFO sees now without blocking: "eof" (no writer left), "open" (a writer, no data) or the data. */
function peekFifo(fd: number): string {
  try {
    const buf = Buffer.alloc(64);
    const n = readSync(fd, buf);
    return n === 0 ? "eof" : buf.subarray(0, n).toString();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EAGAIN") return "open";
    throw err;
  }
}

describe("kuasar-endpoint output holding", () => {
  it("holds a FIFO's write end across relay and custody deaths until Release: the reader sees no end before", async (t) => {
    const { ep, api } = await setup(t);
    const fifo = `${ep.dir}/stdout`;
    execFileSync("mkfifo", [fifo]);
    await assert.rejects(api.hold({ path: fifo }), { code: Code.FailedPrecondition }, "nobody reads it yet");
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    t.after(() => closeSync(reader));
    assert.equal(peekFifo(reader), "eof");
    await api.hold({ path: fifo });
    await api.hold({ path: fifo }); // idempotent
    assert.equal(peekFifo(reader), "open");
    assert.deepEqual((await api.status({})).held, [fifo]);
    // A writer of ours (kuasard's relay of a VM's output) comes and goes: the reader sees no end.
    const w = openSync(fifo, constants.O_WRONLY);
    writeSync(w, "line1\n");
    closeSync(w);
    assert.equal(peekFifo(reader), "line1\n");
    assert.equal(peekFifo(reader), "open");
    const st = await ep.waitRelay();
    kill9(st.pid);
    await ep.waitRelay(st.pid);
    assert.equal(peekFifo(reader), "open", "held across a relay death");
    kill9(st.custodyPid);
    await until(() => ep.logs().includes("holds the endpoint's sockets"));
    const api2 = await ep.control();
    assert.deepEqual((await api2.status({})).held, [fifo]);
    assert.equal(peekFifo(reader), "open", "held across a custody death");
    await api2.release({ path: fifo });
    await api2.release({ path: fifo }); // a path not held is fine
    assert.equal(peekFifo(reader), "eof");
    assert.deepEqual((await api2.status({})).held, []);
    await assert.rejects(api2.hold({ path: "relative" }), { code: Code.InvalidArgument });
    await assert.rejects(api2.hold({ path: `${ep.dir}/missing` }), { code: Code.NotFound });
  });
});

/** The crash cases: each of the endpoint's two processes killed with calls in flight. */
describe("kuasar-endpoint custody", () => {
  async function killAndCheck(t: TestContext, which: "relay" | "custody") {
    const { ep, containerd, task } = await setup(t);
    const k = await backend(t, ep.paths.backend, { hang: new Set(["Wait"]) });
    assert.equal(dec(await containerd.call(TASK, "State", enc("before"))), "task/runc:State:before");
    const wait = containerd.call(TASK, "Wait", enc("w1"));
    await until(() => k.calls.includes("Wait"));
    const st = await ep.waitRelay();
    kill9(which === "relay" ? st.pid : st.custodyPid);
    const after = await ep.waitRelay(which === "relay" ? st.pid : undefined);
    if (which === "relay") {
      assert.notEqual(after.pid, st.pid);
      assert.equal(after.custodyPid, st.custodyPid);
      assert.equal(after.relayGeneration, 2);
    } else {
      assert.equal(after.pid, st.pid);
      await until(() => ep.logs().includes("holds the endpoint's sockets"));
      assert.notEqual((await ep.waitRelay()).custodyPid, st.custodyPid);
    }
    // containerd's connection survived and still works, both ways.
    assert.equal(containerd.closed, false);
    assert.equal(dec(await containerd.call(TASK, "State", enc("after"))), "task/runc:State:after");
    // New connections are served too.
    const fresh = await TtrpcClient.connect(`unix://${task}`);
    t.after(() => fresh.destroy());
    assert.equal(dec(await fresh.call(TASK, "Pids", enc("new"))), "task/runc:Pids:new");
    // The Wait in flight before the kill is answered once kuasard answers it.
    k.server.destroy();
    const k2 = await backend(t, ep.paths.backend);
    assert.equal(dec(await wait), "task/runc:Wait:w1");
    assert.ok(k2.calls.includes("Wait"));
    return { ep, containerd };
  }

  it("kill -9 of the relay: custody starts a new one with containerd's connections and calls in flight", async (t) => {
    await killAndCheck(t, "relay");
  });

  it("kill -9 of the custody process: the relay starts a new one and nothing is lost", async (t) => {
    const { ep } = await killAndCheck(t, "custody");
    // And the new custody really holds everything: the relay may now die too.
    const st = await ep.waitRelay();
    kill9(st.pid);
    const after = await ep.waitRelay(st.pid);
    assert.equal(after.custodyPid, st.custodyPid);
  });

  it("a relay killed repeatedly keeps containerd's connection and serves each time", async (t) => {
    const { ep, containerd } = await setup(t);
    await backend(t, ep.paths.backend);
    let pid = (await ep.waitRelay()).pid;
    for (let i = 0; i < 5; i++) {
      kill9(pid);
      pid = (await ep.waitRelay(pid)).pid;
      assert.equal(dec(await containerd.call(TASK, "State", enc(`r${i}`))), `task/runc:State:r${i}`);
    }
    assert.equal(containerd.closed, false);
  });

  it("kuasard's own connections are never refused or dropped by the endpoint: one per containerd connection", async (t) => {
    const { ep, containerd } = await setup(t);
    const k = await backend(t, ep.paths.backend);
    await containerd.call(TASK, "State", enc("first"));
    const task = `${ep.dir}/task.sock`;
    const clients = await Promise.all(Array.from({ length: 50 }, () => TtrpcClient.connect(`unix://${task}`)));
    t.after(() => clients.forEach((c) => c.destroy()));
    const replies = await Promise.all(clients.map((c, i) => c.call(TASK, "State", enc(`m${i}`))));
    assert.equal(replies.length, 50);
    assert.equal(k.server.connectionCount, 51);
  });
});
