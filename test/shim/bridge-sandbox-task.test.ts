import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import { silentLogger } from "../../src/log/logger.js";
import { BridgeTasks } from "../../src/shim/bridge-tasks.js";
import type { TaskBackend } from "../../src/task/task-backend.js";
import { mapSandboxer, type MapSandboxer } from "../sandbox/map-sandboxer.js";

const GRACE = 7;
const isCode = (code: Code) => (e: unknown) => e instanceof RuntimeError && e.code === code;

// The pod's sandbox ("pause") task on the shim bridge: no pause process runs, so each call
// does what the pause process would have done, or says why it cannot.
describe("shim bridge: the sandbox task", () => {
  let sandboxer: MapSandboxer;
  let bridge: BridgeTasks;
  let stops: [string, number][];

  beforeEach(async () => {
    sandboxer = mapSandboxer("runc", { tasks: { has: () => false } as unknown as TaskBackend });
    stops = [];
    const stop = sandboxer.stop.bind(sandboxer);
    sandboxer.stop = async (id, timeoutSecs) => {
      stops.push([id, timeoutSecs]);
      await stop(id, timeoutSecs);
    };
    await sandboxer.create({ id: "pod", namespace: "k8s.io", netnsPath: "", pod: undefined, annotations: {}, labels: {}, standalone: false });
    await sandboxer.start("pod");
    bridge = new BridgeTasks(new Map([["runc", sandboxer]]), "runc", { publish: () => {}, close: async () => {} }, silentLogger(), GRACE);
  });

  it("signal 0 only asks whether it runs: the pod keeps running", async () => {
    await bridge.kill("pod", "", 0, false);
    assert.deepEqual(stops, []);
    assert.equal((await bridge.state("pod", "")).state, "running");
  });

  it("SIGKILL (containerd 1.7's StopPodSandbox) stops the pod at once; the task exits 137", async () => {
    await bridge.kill("pod", "", 9, false);
    assert.deepEqual(stops, [["pod", 0]]);
    const st = await bridge.state("pod", "");
    assert.deepEqual([st.state, st.exitStatus], ["stopped", 137]);
    assert.equal((await bridge.wait("pod", "", new AbortController().signal)).exitStatus, 137);
    assert.equal((await bridge.delete("pod", "")).exitStatus, 137);
  });

  it("SIGTERM and SIGINT stop the pod with the configured grace; the task exits 0, as pause does", async () => {
    await bridge.kill("pod", "", 15, false);
    assert.deepEqual(stops, [["pod", GRACE]]);
    assert.equal((await bridge.state("pod", "")).exitStatus, 0);
    await assert.rejects(bridge.kill("pod", "", 2, false), isCode(Code.NotFound), "a stopped task has nothing to signal");
  });

  it("refuses other signals, naming the ones it takes, and leaves the pod running", async () => {
    await assert.rejects(bridge.kill("pod", "", 1, false), (e: unknown) => isCode(Code.Unimplemented)(e) && /signal 1 to sandbox pod: no pause process/.test((e as Error).message));
    assert.deepEqual(stops, []);
    assert.equal((await bridge.state("pod", "")).state, "running");
  });

  it("has no exec to signal", async () => {
    await assert.rejects(bridge.kill("pod", "e1", 9, false), isCode(Code.NotFound));
    assert.deepEqual(stops, []);
  });

  it("refuses Update and CloseIO instead of answering OK for nothing", async () => {
    await assert.rejects(bridge.update("pod", undefined, {}), (e: unknown) => isCode(Code.FailedPrecondition)(e) && /no pause process runs whose resources/.test((e as Error).message));
    await assert.rejects(bridge.closeIO("pod", "", true), (e: unknown) => isCode(Code.FailedPrecondition)(e) && /no stdin to close/.test((e as Error).message));
  });

  it("still says NotFound for a task that does not exist", async () => {
    await assert.rejects(bridge.update("nope", undefined, {}), isCode(Code.NotFound));
    await assert.rejects(bridge.closeIO("nope", "", true), isCode(Code.NotFound));
    await assert.rejects(bridge.kill("nope", "", 9, false), isCode(Code.NotFound));
  });
});
