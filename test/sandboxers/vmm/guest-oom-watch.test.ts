import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PodAgent } from "../../../src/holder/pod-agent.js";
import { GUEST_OOM_WATCH, GUEST_RUNC } from "../../../src/sandboxers/vmm/guest-paths.js";
import { containerOfOomWatcher, OomRecordCounter, oomWatcherSpawnId, startOomWatcher } from "../../../src/sandboxers/vmm/guest-oom-watch.js";
import { VM_HOST_OVERHEAD_MB, vmHostResources } from "../../../src/sandboxers/vmm/vm-host-resources.js";

describe("guest OOM watcher output", () => {
  it("counts `oom` records only, across chunk boundaries, ignoring stats records and noise", () => {
    const c = new OomRecordCounter();
    assert.equal(c.push(Buffer.from('{"type":"stats","id":"c1","data":{}}\n{"type":"oo')), 0);
    assert.equal(c.push(Buffer.from('m","id":"c1"}\nnot json\n{"type":"oom","id":"c1"}\n')), 2);
    assert.equal(c.push(Buffer.from('{"type":"oom"')), 0, "a partial record waits");
    assert.equal(c.push(Buffer.from("}\n")), 1);
  });

  it("names a watcher's spawn after its container, and no other spawn", () => {
    assert.equal(containerOfOomWatcher(oomWatcherSpawnId("web-1")), "web-1");
    assert.equal(containerOfOomWatcher("init:web-1"), undefined);
    assert.equal(containerOfOomWatcher("exec:web-1:e1"), undefined);
  });

  it("is kuasar-oom-watch on the container's init in a guest with crun (no `events`), `runc events` in a guest with runc only", async () => {
    const argvs: string[][] = [];
    const agent = { spawn: async (req: { argv: string[]; stdout: string }) => (argvs.push(req.argv), 7) } as unknown as PodAgent;
    assert.equal(await startOomWatcher(agent, "web", "crun", 42), 7);
    await startOomWatcher(agent, "web", "runc", 42);
    assert.deepEqual(argvs[0], [GUEST_OOM_WATCH, "42"]);
    assert.equal(argvs[1]![0], GUEST_RUNC);
    assert.deepEqual(argvs[1]!.slice(-4), ["events", "--interval", "24h", "web"]);
  });
});

describe("a VM pod's host cgroup limits", () => {
  const pod = { memoryLimitBytes: 64 << 20, cpuQuota: 50_000, cpuPeriod: 100_000, cpuShares: 512 };
  it("cover the guest's RAM and QEMU's overhead; CPU as asked", () => {
    assert.deepEqual(vmHostResources(pod, 256), { ...pod, memoryLimitBytes: (256 + VM_HOST_OVERHEAD_MB) * (1 << 20) });
  });
  it("set no memory limit when the pod asks none", () => {
    assert.equal(vmHostResources({ ...pod, memoryLimitBytes: 0 }, 256).memoryLimitBytes, 0);
  });
});
