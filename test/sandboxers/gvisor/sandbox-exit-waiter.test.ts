import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { silentLogger } from "../../../src/log/logger.js";
import { SandboxExitWaiter } from "../../../src/sandboxers/gvisor/sandbox-exit-waiter.js";

/** A fake sandbox control socket: Waits are held until `exit(id, waitStatus)`; `hangUp()` drops every open Wait. */
async function fakeSandbox(t: { after: (f: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), "exit-waiter-"));
  const path = join(dir, "runsc-s.sock");
  const held = new Map<string, Socket[]>();
  const calls: string[] = [];
  const s = createServer((c) => {
    c.on("error", () => {}); // a client that stopped waiting has hung up
    c.setEncoding("utf8");
    c.on("data", (d: string) => {
      const call = JSON.parse(d) as { method: string; arg: string };
      calls.push(call.arg);
      held.set(call.arg, [...(held.get(call.arg) ?? []), c]);
    });
  });
  await new Promise<void>((res) => s.listen(path, res));
  t.after(() => {
    s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    path,
    calls,
    exit(id: string, ws: number) {
      for (const c of held.get(id) ?? []) c.end(JSON.stringify({ success: true, err: "", result: ws }));
      held.delete(id);
    },
    hangUp() {
      for (const cs of held.values()) for (const c of cs) c.destroy();
      held.clear();
    },
  };
}

const until = async (f: () => boolean) => {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe("exit statuses from the sandbox's control socket", () => {
  it("reports each container's exit once, with its status", async (t) => {
    const sb = await fakeSandbox(t);
    const w = new SandboxExitWaiter(silentLogger());
    const got: [string, number][] = [];
    w.watch(sb.path, "c1", () => true, (s) => got.push(["c1", s]));
    w.watch(sb.path, "c1", () => true, (s) => got.push(["c1 again", s]));
    w.watch(sb.path, "c2", () => true, (s) => got.push(["c2", s]));
    await until(() => sb.calls.length === 2);
    sb.exit("c1", 42 << 8);
    sb.exit("c2", 9);
    await until(() => got.length === 2);
    assert.deepEqual(got.sort(), [["c1", 42], ["c2", 137]]);
  });

  it("asks again when the connection drops while the container is still wanted, and not after stop", async (t) => {
    const sb = await fakeSandbox(t);
    const w = new SandboxExitWaiter(silentLogger());
    const got: number[] = [];
    w.watch(sb.path, "c1", () => true, (s) => got.push(s));
    await until(() => sb.calls.length === 1);
    sb.hangUp();
    await until(() => sb.calls.length === 2);
    sb.exit("c1", 3 << 8);
    await until(() => got.length === 1);
    assert.deepEqual(got, [3]);
    w.watch(sb.path, "c2", () => true, (s) => got.push(s));
    await until(() => sb.calls.length === 3);
    w.stop("c2");
    sb.exit("c2", 0);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(got, [3], "a stopped wait reports nothing");
  });

  it("gives up without a status when the sandbox is gone", async (t) => {
    const sb = await fakeSandbox(t);
    const w = new SandboxExitWaiter(silentLogger());
    let called = false;
    let wanted = true;
    w.watch(sb.path, "c1", () => wanted, () => (called = true));
    await until(() => sb.calls.length === 1);
    wanted = false;
    sb.hangUp();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(called, false);
    assert.equal(sb.calls.length, 1, "not asked again once unwanted");
  });
});
