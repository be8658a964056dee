import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ContainerState, PodSandboxState, type ContainerConfigSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { isAlive } from "../../src/pod/pod.js";
import type { CriClient } from "../../testing/cri.js";
import { decodeOut, podConfig, runPod, shContainer, waitExited } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { afterRedial, containerd2WithKuasar, GVISOR_HANDLER } from "../../testing/kuasar-containerd2.js";

assertIsolated();

type ContainerConfig = MessageInitShape<typeof ContainerConfigSchema>;

async function waitDead(pid: number): Promise<boolean> {
  for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !isAlive(pid);
}

/** The host pid CRI reports for a container (for gvisor: its init's waiter, alive exactly as long as the init). */
async function containerPid(cri: CriClient, containerId: string): Promise<number> {
  const info = (await cri.runtime.containerStatus({ containerId, verbose: true })).info;
  return (JSON.parse(info["info"] ?? "{}") as { pid?: number }).pid ?? 0;
}

describe("gvisor sandboxer restart (kill -9) under stock containerd 2.x", () => {
  it("re-attaches live pods, reports an exit and a sandbox death that happened while it was down", async (t) => {
    const env = await containerd2WithKuasar(t, ["gvisor"]);
    const { cri } = env;
    const signal = mkdtempSync("/tmp/gv-signal-");
    t.after(() => rmSync(signal, { recursive: true, force: true }));

    const survivor = await runPod(cri, GVISOR_HANDLER, podConfig("survivor", `${env.dir}/logs/s`), [shContainer("c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")]);
    // Exits 7 once the test drops a file into its volume (a shared mount: gVisor sees host changes).
    const dierConfig = { ...shContainer("c", "while [ ! -f /signal/go ]; do sleep 0.1; done; exit 7"), mounts: [{ containerPath: "/signal", hostPath: signal }] } as ContainerConfig;
    const dier = await runPod(cri, GVISOR_HANDLER, podConfig("dier", `${env.dir}/logs/d`), [dierConfig]);
    const victim = await runPod(cri, GVISOR_HANDLER, podConfig("victim", `${env.dir}/logs/v`), [shContainer("c", "sleep 100000")]);
    const dierPid = await containerPid(cri, dier.ids[0]!);
    assert.ok(dierPid > 0);
    const victimSandbox = Number(readFileSync(join(env.sandboxerDir, "pods", victim.podId, "gvisor", "sandbox.pid"), "utf8").trim());

    await env.sandboxer.kill9();
    writeFileSync(join(signal, "go"), "");
    assert.ok(await waitDead(dierPid), "the container exited while the daemon was down");
    process.kill(victimSandbox, "SIGKILL");
    assert.ok(await waitDead(victimSandbox), "the victim's sandbox is gone");

    await env.restartSandboxer();
    await afterRedial(() => cri.runtime.podSandboxStatus({ podSandboxId: survivor.podId }));
    for (const p of [survivor, dier]) {
      assert.equal((await cri.runtime.podSandboxStatus({ podSandboxId: p.podId })).status?.state, PodSandboxState.SANDBOX_READY);
    }
    assert.equal((await cri.runtime.containerStatus({ containerId: survivor.ids[0]! })).status?.state, ContainerState.CONTAINER_RUNNING);
    assert.equal((await waitExited(cri, dier.ids[0]!)).exitCode, 7, "the real exit code of the container that died while we were down");
    assert.equal((await waitExited(cri, victim.ids[0]!)).state, ContainerState.CONTAINER_EXITED);
    let state: PodSandboxState | undefined;
    for (let i = 0; i < 300 && state !== PodSandboxState.SANDBOX_NOTREADY; i++) {
      state = (await cri.runtime.podSandboxStatus({ podSandboxId: victim.podId })).status?.state;
      if (state !== PodSandboxState.SANDBOX_NOTREADY) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state, PodSandboxState.SANDBOX_NOTREADY, "the pod whose sandbox died while we were down");

    const ex = await cri.runtime.execSync({ containerId: survivor.ids[0]!, cmd: ["echo", "alive"], timeout: 20n });
    assert.equal(decodeOut(ex.stdout), "alive\n");
    await cri.runtime.stopContainer({ containerId: survivor.ids[0]!, timeout: 10n });
    assert.equal((await waitExited(cri, survivor.ids[0]!)).exitCode, 0);
    for (const p of [survivor, dier, victim]) {
      await cri.runtime.stopPodSandbox({ podSandboxId: p.podId });
      await cri.runtime.removePodSandbox({ podSandboxId: p.podId });
    }
    assert.deepEqual(readdirSync(join(env.sandboxerDir, "pods")), []);
  });
});
