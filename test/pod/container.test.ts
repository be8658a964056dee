import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Container } from "../../src/pod/container.js";
import type { Pod } from "../../src/pod/pod.js";
import type { ContainerRecord } from "../../src/pod/records.js";

const container = () => new Container({ id: "c1", init: {}, execs: {} } as unknown as ContainerRecord, {} as Pod);

describe("Container kill tracking", () => {
  it("has nothing to wait for when no Kill is in progress", () => {
    assert.equal(container().killsReplied(""), undefined);
  });

  it("an exit waits for the Kill in progress to settle, then for its reply to be written", async () => {
    const c = container();
    let finishKill!: () => void;
    c.trackKill("", new Promise<void>((r) => (finishKill = r)));
    const order: string[] = [];
    const replied = c.killsReplied("")!;
    assert.ok(replied, "a Kill is in progress");
    void replied.then(() => order.push("exit"));
    await new Promise((r) => setImmediate(r));
    assert.equal(order.length, 0, "the exit is held while Kill runs");
    finishKill();
    // What the Kill's caller does with its result (the reply) runs before the exit.
    await Promise.resolve().then(() => order.push("kill reply"));
    await replied;
    assert.deepEqual(order, ["kill reply", "exit"]);
    assert.equal(c.killsReplied(""), undefined, "a settled Kill is no longer counted");
  });

  it("a failed Kill holds the exit too, and only that process's", async () => {
    const c = container();
    const failing = Promise.reject(new Error("runc kill failed"));
    failing.catch(() => {});
    c.trackKill("e1", failing);
    assert.equal(c.killsReplied(""), undefined, "the init is not held by an exec's Kill");
    await c.killsReplied("e1");
    assert.equal(c.killsReplied("e1"), undefined);
  });
});
