import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, it } from "node:test";
import { isEndpointPeer } from "../../src/daemon/route-dispatcher.js";

describe("route dispatcher: which peers of the internal socket are kuasar-endpoint", () => {
  it("trusts the relay and custody, a relay custody forked, and a connection whose connecting process is gone", async (t) => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    t.after(() => child.kill("SIGKILL"));
    await once(child, "spawn");
    const other = spawn("sleep", ["30"], { stdio: "ignore" });
    t.after(() => other.kill("SIGKILL"));
    await once(other, "spawn");
    const endpoint = new Set([process.pid, 999_999]);
    assert.equal(isEndpointPeer(process.pid, endpoint), true, "the endpoint itself");
    assert.equal(isEndpointPeer(child.pid!, endpoint), true, "a child of the endpoint (a relay custody forked)");
    assert.equal(isEndpointPeer(child.pid!, new Set([other.pid!])), false, "an unrelated live process");
    const gone = spawn("true", [], { stdio: "ignore" });
    await once(gone, "exit");
    assert.equal(isEndpointPeer(gone.pid!, new Set([other.pid!])), true, "a process gone while its connection lives on (kept by custody)");
  });
});
