import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ContainerState, PodSandboxState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { shimProcesses, type CriClient } from "../../testing/cri.js";
import { decodeOut, podConfig, runPod, shContainer, waitExited } from "../../testing/cri-pod.js";
import { ctrEvents } from "../../testing/ctr-events.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd17WithKuasar, HANDLER_17 } from "../../testing/kuasar-containerd17.js";

assertIsolated();

const LOOP = "trap 'exit 0' TERM; while true; do sleep 0.1; done";

/** Our Node processes in this pid namespace (kuasard...), by command line. */
function ourNodeProcesses(): string[] {
  const out: string[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${e}/cmdline`, "utf8").replace(/\0/g, " ");
    } catch {
      continue;
    }
    const m = /dist\/src\/cli\/([\w-]+)\.js/.exec(cmd);
    if (m) out.push(m[1]!);
  }
  return out.sort();
}

/** Processes in this pid namespace whose command name is `comm`. */
function processesNamed(comm: string): number {
  let n = 0;
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/comm`, "utf8").trim() === comm) n++;
    } catch {
      /* exited meanwhile */
    }
  }
  return n;
}

async function startPods(cri: CriClient, dir: string, n: number, prefix: string) {
  const pods: { podId: string; cid: string }[] = [];
  for (let i = 0; i < n; i++) {
    const { podId, ids } = await runPod(cri, HANDLER_17, podConfig(`${prefix}${i}`, `${dir}/logs/${prefix}${i}`), [shContainer(`c${i}`, LOOP)]);
    pods.push({ podId, cid: ids[0]! });
  }
  return pods;
}

async function removeAll(cri: CriClient) {
  for (const p of (await cri.runtime.listPodSandbox({})).items) {
    await cri.runtime.stopPodSandbox({ podSandboxId: p.id });
    await cri.runtime.removePodSandbox({ podSandboxId: p.id });
  }
}

describe("shim bridge: 1:N and restarts under stock containerd 1.7", () => {
  it("20 pods: no containerd-shim process, one Node process (kuasard), and the endpoint's two native processes", async (t) => {
    const env = await containerd17WithKuasar(t);
    await startPods(env.cri, env.dir, 20, "n");
    try {
      assert.equal((await env.cri.runtime.listContainers({})).containers.filter((c) => c.state === ContainerState.CONTAINER_RUNNING).length, 20);
      assert.deepEqual(await shimProcesses(), []);
      assert.deepEqual(ourNodeProcesses(), ["kuasard"]);
      assert.equal(processesNamed("kuasar-endpoint"), 1);
      assert.equal(processesNamed("kuasar-custody"), 1);
    } finally {
      // Pods outlive the daemon and containerd by design: a failed check must not leave 20 to the next test.
      await removeAll(env.cri);
    }
  });

  it("containerd restarted with pods running: every pod and container is still listed and manageable", async (t) => {
    const env = await containerd17WithKuasar(t);
    const pods = await startPods(env.cri, env.dir, 2, "r");
    await env.restartContainerd();
    const listed = await env.cri.runtime.listPodSandbox({});
    assert.deepEqual(listed.items.map((p) => p.state), [PodSandboxState.SANDBOX_READY, PodSandboxState.SANDBOX_READY]);
    for (const p of pods) assert.equal((await env.cri.runtime.containerStatus({ containerId: p.cid })).status?.state, ContainerState.CONTAINER_RUNNING);
    const ex = await env.cri.runtime.execSync({ containerId: pods[0]!.cid, cmd: ["echo", "after-restart"], timeout: 10n });
    assert.equal(decodeOut(ex.stdout), "after-restart\n");
    await env.cri.runtime.stopContainer({ containerId: pods[1]!.cid, timeout: 10n });
    assert.equal((await waitExited(env.cri, pods[1]!.cid)).exitCode, 0);
    await removeAll(env.cri);
    assert.deepEqual(await shimProcesses(), []);
  });

  it("kill -9 of kuasard: containerd sees no shim death, and every pod stays manageable", async (t) => {
    const env = await containerd17WithKuasar(t);
    const pods = await startPods(env.cri, env.dir, 2, "k");
    const c = env.containerd;
    const events = await ctrEvents(t, c); // live before the kill: an exit synthesized then is seen
    const logBefore = (await c.logs()).length;

    await env.kuasard.kill9();
    await new Promise((r) => setTimeout(r, 500));
    await env.restartKuasard();

    const ex = await env.cri.runtime.execSync({ containerId: pods[0]!.cid, cmd: ["echo", "still-here"], timeout: 10n });
    assert.equal(decodeOut(ex.stdout), "still-here\n");
    for (const p of pods) {
      assert.equal((await env.cri.runtime.podSandboxStatus({ podSandboxId: p.podId })).status?.state, PodSandboxState.SANDBOX_READY);
      assert.equal((await env.cri.runtime.containerStatus({ containerId: p.cid })).status?.state, ContainerState.CONTAINER_RUNNING);
    }
    const during = (await c.logs()).slice(logBefore);
    assert.doesNotMatch(during, /shim disconnected|cleaning up dead shim/, "containerd saw no shim die");
    const seen = events.lines.join("\n");
    const exitIds = events.lines
      .filter((l) => l.includes("/tasks/exit"))
      .map((l) => (JSON.parse(l.slice(l.indexOf("{"))) as { id: string }).id);
    for (const p of pods) assert.ok(!exitIds.includes(p.cid) && !exitIds.includes(p.podId), `no exit synthesized for live tasks:\n${seen}`);

    await env.cri.runtime.stopContainer({ containerId: pods[1]!.cid, timeout: 10n });
    assert.equal((await waitExited(env.cri, pods[1]!.cid)).exitCode, 0);
    await removeAll(env.cri);
    assert.deepEqual(await shimProcesses(), []);
  });
});
