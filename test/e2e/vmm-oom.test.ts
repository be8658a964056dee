import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ContainerState, LinuxContainerResourcesSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import type { CriClient } from "../../testing/cri.js";
import { ctrEvents } from "../../testing/ctr-events.js";
import { podConfig, runPod, shContainer, waitExited } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2WithKuasar, VMM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { processesOf, VMM_TEST_CONFIG } from "../../testing/vm-pod.js";

assertIsolated();

const MiB = 1 << 20;
/** Doubles a string until it needs 1 GiB: far past the container's limit (and the guest's RAM), fast. */
const ALLOCATE = "exec awk 'BEGIN { s = \"x\"; for (i = 0; i < 30; i++) s = s s; print length(s) }'";

/** The container's status once CRI gives it `reason` (an OOM event may follow its exit event). */
async function waitReason(cri: CriClient, containerId: string, reason: string, timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await cri.runtime.containerStatus({ containerId });
    if (status?.reason === reason || Date.now() > until) return status;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("vmm OOM kills (containerd 2.x, CRI)", () => {
  it("containers that allocate past their limit in the guest exit 137 as OOMKilled, their /tasks/oom before their /tasks/exit, whether the kill came before their OOM watcher started or after; the other container runs on", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc", "vmm"], VMM_TEST_CONFIG);
    const limit = create(LinuxContainerResourcesSchema, { memoryLimitInBytes: BigInt(48 * MiB) });
    const bystander = shContainer("bystander", "while true; do sleep 1; done");
    // At once: killed while its Start is still being answered, before its watcher reads the cgroup.
    const early = shContainer("early", ALLOCATE);
    // Later: its watcher has been waiting on the cgroup for a while.
    const late = shContainer("late", `sleep 3; ${ALLOCATE}`);
    for (const c of [early, late]) c.linux = { ...c.linux, resources: limit };
    const events = await ctrEvents(t, env.containerd);
    const { podId, ids } = await runPod(env.cri, VMM_HANDLER, podConfig("oom", `${env.dir}/logs/oom`), [bystander, early, late]);
    const [bystanderId, earlyId, lateId] = ids as [string, string, string];
    for (const [name, id] of [["early", earlyId], ["late", lateId]] as const) {
      const ended = await waitExited(env.cri, id, 120_000);
      assert.equal(ended.exitCode, 137, `${name}: ${JSON.stringify({ exitCode: ended.exitCode, reason: ended.reason })}`);
      const st = await waitReason(env.cri, id, "OOMKilled");
      assert.equal(st?.reason, "OOMKilled", `${name}: reason`);
      // As from runc's shim: the OOM event first, so CRI's exit handling already knows why.
      const oom = events.lines.findIndex((l) => l.includes("/tasks/oom") && l.includes(id));
      const exit = events.lines.findIndex((l) => l.includes("/tasks/exit") && l.includes(id));
      assert.ok(oom >= 0 && exit >= 0 && oom < exit, `${name}: /tasks/oom (line ${oom}) before /tasks/exit (line ${exit})`);
    }
    assert.equal((await env.cri.runtime.containerStatus({ containerId: bystanderId })).status?.state, ContainerState.CONTAINER_RUNNING, "the other container runs on");
    await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: podId });
    assert.deepEqual(await processesOf("qemu-system-x86_64"), []);
  });
});
