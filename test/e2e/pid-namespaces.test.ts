import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { decodeOut, podConfig, runPod, shContainer } from "../../testing/cri-pod.js";
import type { CriClient } from "../../testing/cri.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd17WithKuasar, HANDLER_17 } from "../../testing/kuasar-containerd17.js";
import { containerd2WithKuasar, HANDLER } from "../../testing/kuasar-containerd2.js";

assertIsolated();

/**
 * kubelet's default is a pid namespace per container (NamespaceMode.CONTAINER): the
 * container's own command is pid 1 there. A pod asking for a shared one (POD) sees the
 * pod's pid 1 (our pod-init) and its other containers. Both containerd paths.
 */
async function pidNamespaces(t: TestContext, cri: CriClient, handler: string, dir: string) {
  const own = await runPod(cri, handler, podConfig("own", `${dir}/logs/own`), [shContainer("a", "exec sleep 1000"), shContainer("b", "exec sleep 2000")]);
  const comm1 = async (cid: string) => decodeOut((await cri.runtime.execSync({ containerId: cid, cmd: ["cat", "/proc/1/cmdline"], timeout: 10n })).stdout).replace(/\0/g, " ").trim();
  assert.equal(await comm1(own.ids[0]!), "sleep 1000", "a CONTAINER-pid container is pid 1 of its own namespace");
  assert.equal(await comm1(own.ids[1]!), "sleep 2000");
  const shared = await runPod(cri, handler, podConfig("shared", `${dir}/logs/shared`, { sharedPid: true }), [
    shContainer("c", "exec sleep 3000", { sharedPid: true }),
    shContainer("d", "exec sleep 4000", { sharedPid: true }),
  ]);
  assert.notEqual(await comm1(shared.ids[0]!), "sleep 3000", "in a shared pid namespace pid 1 is the pod's, not the container's");
  const ps = decodeOut((await cri.runtime.execSync({ containerId: shared.ids[0]!, cmd: ["ps", "-o", "args"], timeout: 10n })).stdout);
  assert.match(ps, /sleep 4000/, "containers of a shared-pid pod see each other");
  for (const p of [own, shared]) {
    await cri.runtime.stopPodSandbox({ podSandboxId: p.podId });
    await cri.runtime.removePodSandbox({ podSandboxId: p.podId });
  }
  t.diagnostic(`${handler}: own and shared pid namespaces as asked`);
}

describe("pid namespaces as CRI asks", () => {
  it("containerd 2.x direct", async (t) => {
    const env = await containerd2WithKuasar(t);
    await pidNamespaces(t, env.cri, HANDLER, env.dir);
  });

  it("containerd 1.7 through the shim bridge", async (t) => {
    const env = await containerd17WithKuasar(t);
    await pidNamespaces(t, env.cri, HANDLER_17, env.dir);
  });
});
