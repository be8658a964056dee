import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { StartGuard } from "../../src/sandbox/start-guard.js";

describe("start guard", () => {
  it("refuses a second Start of a sandbox while the first runs, and lets Stop wait for it", async () => {
    const guard = new StartGuard();
    let finish!: () => void;
    const order: string[] = [];
    const first = guard.run("p", () => new Promise<string>((r) => (finish = () => r("started"))));
    await assert.rejects(guard.run("p", async () => "again"), { code: Code.FailedPrecondition, message: /a start is already in progress/ });
    assert.equal(await guard.run("q", async () => "other sandbox"), "other sandbox");
    const stop = guard.settled("p").then(() => order.push("stop"));
    await new Promise((r) => setImmediate(r)); // Stop had every chance to go on: it must still wait
    order.push("start done");
    finish();
    assert.equal(await first, "started");
    await stop;
    assert.deepEqual(order, ["start done", "stop"]);
    assert.equal(await guard.run("p", async () => "after"), "after");
  });

  it("lets Stop go on after a failed Start", async () => {
    const guard = new StartGuard();
    const failing = guard.run("p", async () => {
      throw new Error("boom");
    });
    await guard.settled("p");
    await assert.rejects(failing, /boom/);
    assert.equal(await guard.run("p", async () => 1), 1);
  });
});
