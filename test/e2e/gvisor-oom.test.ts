import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { create } from "@bufbuild/protobuf";
import { createPodCgroup, mountedHierarchies } from "../../src/cgroup/pod-cgroup.js";
import { ContainerState, LinuxContainerResourcesSchema, PodSandboxState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { assertIsolated } from "../../testing/isolation.js";
import { podConfig, runPod, shContainer, waitExited } from "../../testing/cri-pod.js";
import { containerd2WithKuasar, GVISOR_HANDLER } from "../../testing/kuasar-containerd2.js";

assertIsolated();

const MiB = 1 << 20;
/** Doubles a string until it needs 1 GiB: far past the pod's limits, fast. */
const HOG = "echo start; sleep 2; exec awk 'BEGIN { s = \"x\"; for (i = 0; i < 30; i++) s = s s; print length(s) }'";

/** A pod of a bystander and a hog, 64 MiB each, under a cgroup parent of the test's own. */
async function hogPod(t: TestContext, env: Awaited<ReturnType<typeof containerd2WithKuasar>>) {
  const parent = `/kuasar-e2e-${randomBytes(6).toString("hex")}`;
  createPodCgroup(parent);
  t.after(() => {
    for (const h of mountedHierarchies()) {
      try {
        rmdirSync(join(h.mount, parent));
      } catch {
        /* gone already */
      }
    }
  });
  const cfg = podConfig("oom", `${env.dir}/logs/oom-${randomBytes(3).toString("hex")}`);
  cfg.linux = { ...cfg.linux, cgroupParent: parent };
  const limit = create(LinuxContainerResourcesSchema, { memoryLimitInBytes: BigInt(64 * MiB) });
  const bystander = shContainer("bystander", "while true; do sleep 1; done");
  bystander.linux = { ...bystander.linux, resources: limit };
  const hog = shContainer("hog", HOG);
  hog.linux = { ...hog.linux, resources: limit };
  const { podId, ids } = await runPod(env.cri, GVISOR_HANDLER, cfg, [bystander, hog]);
  const [bystanderId, hogId] = ids as [string, string];
  const sandboxPid = Number(new RegExp(`"sandbox_id":"${podId}".*?"runsc_sandbox_pid":(\\d+)`).exec(env.sandboxer.logs())?.[1]);
  assert.ok(sandboxPid > 0, "the sandboxer logged the pod's runsc sandbox pid");
  return { podId, bystanderId, hogId, sandboxPid };
}

describe("gvisor OOM kills (containerd 2.x, CRI)", () => {
  it("a container that allocates past its limit gets /tasks/oom (CRI: OOMKilled) and exit 137; the pod and its other container run on", async (t) => {
    const env = await containerd2WithKuasar(t, ["gvisor"]);
    const { podId, bystanderId, hogId } = await hogPod(t, env);
    const ended = await waitExited(env.cri, hogId);
    assert.equal(ended.exitCode, 137, JSON.stringify({ exitCode: ended.exitCode, reason: ended.reason }));
    assert.equal(ended.reason, "OOMKilled");
    const sandboxKilled = /the kernel OOM-killed the gVisor sandbox itself/.test(env.sandboxer.logs());
    if (sandboxKilled) {
      // The kernel chose gVisor's own kernel (the pod cgroup's largest process) over the
      // hog's stub: every container went with it, each reported OOM-killed.
      t.diagnostic("the kernel's victim was the runsc sandbox itself this time; the next test forces that case");
      const other = await waitExited(env.cri, bystanderId);
      assert.deepEqual([other.exitCode, other.reason], [137, "OOMKilled"]);
    } else {
      assert.match(env.sandboxer.logs(), /"container_id":"[0-9a-f]+","kills":1,"msg":"the kernel OOM-killed a process of the container"/);
      t.diagnostic(`gVisor's own status for the process whose memory went: ${/"sandbox_status":(\d+)/.exec(env.sandboxer.logs())?.[1]}`);
      assert.equal((await env.cri.runtime.containerStatus({ containerId: bystanderId })).status?.state, ContainerState.CONTAINER_RUNNING, "the other container runs on");
    }
    await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: podId });
  });

  it("when the kernel picks the runsc sandbox itself, every container in it is reported OOM-killed (137) and the pod NotReady", async (t) => {
    const env = await containerd2WithKuasar(t, ["gvisor"]);
    const { podId, bystanderId, hogId, sandboxPid } = await hogPod(t, env);
    // Raising a score needs no privilege: the sandbox is the kernel's first choice now.
    writeFileSync(`/proc/${sandboxPid}/oom_score_adj`, "1000");
    for (const id of [hogId, bystanderId]) {
      const ended = await waitExited(env.cri, id);
      assert.deepEqual([ended.exitCode, ended.reason], [137, "OOMKilled"], `container ${id}`);
    }
    assert.match(env.sandboxer.logs(), /the kernel OOM-killed the gVisor sandbox itself/);
    const pod = await env.cri.runtime.podSandboxStatus({ podSandboxId: podId });
    assert.equal(pod.status?.state, PodSandboxState.SANDBOX_NOTREADY);
    await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: podId });
  });
});
