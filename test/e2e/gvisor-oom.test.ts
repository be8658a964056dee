import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rmdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { createPodCgroup, mountedHierarchies } from "../../src/cgroup/pod-cgroup.js";
import { ContainerState, LinuxContainerResourcesSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { assertIsolated } from "../../testing/isolation.js";
import { podConfig, runPod, shContainer, waitExited } from "../../testing/cri-pod.js";
import { containerd2WithKuasar, GVISOR_HANDLER } from "../../testing/kuasar-containerd2.js";

assertIsolated();

const MiB = 1 << 20;
/** Doubles a string until it needs 1 GiB: far past the pod's limits, fast. */
const HOG = "echo start; sleep 1; exec awk 'BEGIN { s = \"x\"; for (i = 0; i < 30; i++) s = s s; print length(s) }'";

describe("gvisor OOM kills (containerd 2.x, CRI)", () => {
  it("a container that allocates past its limit gets /tasks/oom (CRI: OOMKilled) and exit 137; the pod and its other container run on", async (t) => {
    const env = await containerd2WithKuasar(t, ["gvisor"]);
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
    const cfg = podConfig("oom", `${env.dir}/logs/oom`);
    cfg.linux = { ...cfg.linux, cgroupParent: parent };
    const limit = create(LinuxContainerResourcesSchema, { memoryLimitInBytes: BigInt(64 * MiB) });
    const bystander = shContainer("bystander", "while true; do sleep 1; done");
    bystander.linux = { ...bystander.linux, resources: limit };
    const hog = shContainer("hog", HOG);
    hog.linux = { ...hog.linux, resources: limit };
    const { podId, ids } = await runPod(env.cri, GVISOR_HANDLER, cfg, [bystander, hog]);
    const [bystanderId, hogId] = ids as [string, string];

    const ended = await waitExited(env.cri, hogId);
    assert.equal(ended.exitCode, 137, JSON.stringify({ exitCode: ended.exitCode, reason: ended.reason }));
    assert.equal(ended.reason, "OOMKilled");
    assert.match(env.sandboxer.logs(), /"container_id":"[0-9a-f]+","kills":1,"msg":"the kernel OOM-killed a process of the container"/);
    t.diagnostic(`gVisor's own status for the process whose memory went: ${/"sandbox_status":(\d+)/.exec(env.sandboxer.logs())?.[1]}`);
    assert.equal((await env.cri.runtime.containerStatus({ containerId: bystanderId })).status?.state, ContainerState.CONTAINER_RUNNING, "the other container runs on");
    await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: podId });
  });
});
