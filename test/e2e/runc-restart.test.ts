import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ContainerState, PodSandboxState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { isAlive } from "../../src/pod/pod.js";
import { shimProcesses } from "../../testing/cri.js";
import { decodeOut, podConfig, runPod, shContainer, waitExited } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { afterRedial, containerd2WithKuasar, HANDLER } from "../../testing/kuasar-containerd2.js";

assertIsolated();

describe("runc sandboxer restart (kill -9) under stock containerd 2.x", () => {
  it("keeps 5 pods Ready and manageable, and reports an exit that happened while it was down", async (t) => {
    const env = await containerd2WithKuasar(t);
    const { cri } = env;
    const pods: { podId: string; cid: string }[] = [];
    for (let i = 0; i < 5; i++) {
      const cfg = podConfig(`p${i}`, `${env.dir}/logs/p${i}`);
      // The last pod's container exits 7 once the test drops a file into its rootfs.
      const script = i === 4 ? "while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 7" : "trap 'exit 0' TERM; while true; do sleep 0.1; done";
      const { podId, ids } = await runPod(cri, HANDLER, cfg, [shContainer(`c${i}`, script)]);
      pods.push({ podId, cid: ids[0]! });
    }
    const dier = pods[4]!.cid;
    const info = (await cri.runtime.containerStatus({ containerId: dier, verbose: true })).info;
    const dierPid = (JSON.parse(info["info"] ?? "{}") as { pid?: number }).pid ?? 0;
    assert.ok(dierPid > 0, "container pid from CRI verbose status");

    await env.sandboxer.kill9();
    // While the daemon is down the container exits on its own.
    writeFileSync(join(env.containerd.state, "io.containerd.runtime.v2.task", "k8s.io", dier, "rootfs", "tmp", "go"), "");
    for (let i = 0; i < 100 && isAlive(dierPid); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(isAlive(dierPid), false, "container exited while the daemon was down");

    await env.restartSandboxer();
    await afterRedial(() => cri.runtime.podSandboxStatus({ podSandboxId: pods[0]!.podId }));

    for (const p of pods) {
      const s = await cri.runtime.podSandboxStatus({ podSandboxId: p.podId });
      assert.equal(s.status?.state, PodSandboxState.SANDBOX_READY, `pod ${p.podId} ready after restart`);
    }
    for (const p of pods.slice(0, 4)) {
      const s = await cri.runtime.containerStatus({ containerId: p.cid });
      assert.equal(s.status?.state, ContainerState.CONTAINER_RUNNING);
    }
    assert.equal((await waitExited(cri, dier)).exitCode, 7, "the real exit code of the container that died while we were down");

    const ex = await cri.runtime.execSync({ containerId: pods[0]!.cid, cmd: ["echo", "alive"], timeout: 10n });
    assert.equal(decodeOut(ex.stdout), "alive\n");
    await cri.runtime.stopContainer({ containerId: pods[1]!.cid, timeout: 10n });
    assert.equal((await waitExited(cri, pods[1]!.cid)).exitCode, 0);
    await cri.runtime.stopPodSandbox({ podSandboxId: pods[2]!.podId });
    await cri.runtime.removePodSandbox({ podSandboxId: pods[2]!.podId });
    assert.equal((await cri.runtime.listPodSandbox({})).items.length, 4);
    assert.deepEqual(await shimProcesses(), []);
    for (const p of [pods[0]!, pods[1]!, pods[3]!, pods[4]!]) {
      await cri.runtime.stopPodSandbox({ podSandboxId: p.podId });
      await cri.runtime.removePodSandbox({ podSandboxId: p.podId });
    }
  });

  it("SIGTERM drains the daemon without touching running pods", async (t) => {
    const env = await containerd2WithKuasar(t);
    const { cri } = env;
    const { podId, ids } = await runPod(cri, HANDLER, podConfig("drain", `${env.dir}/logs/drain`), [shContainer("c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")]);
    const info = (await cri.runtime.containerStatus({ containerId: ids[0]!, verbose: true })).info;
    const pid = (JSON.parse(info["info"] ?? "{}") as { pid?: number }).pid ?? 0;
    await env.sandboxer.stop();
    assert.match(env.sandboxer.logs(), /stopping; pods keep running/);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(isAlive(pid), "the container outlived the daemon's SIGTERM");
    await env.restartSandboxer();
    assert.equal((await afterRedial(() => cri.runtime.podSandboxStatus({ podSandboxId: podId }))).status?.state, PodSandboxState.SANDBOX_READY);
    await cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await cri.runtime.removePodSandbox({ podSandboxId: podId });
    assert.equal(isAlive(pid), false);
  });
});
