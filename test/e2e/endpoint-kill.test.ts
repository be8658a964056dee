import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { stateSocketPath, ENDPOINT_SOCKET } from "../../src/daemon/endpoint-launcher.js";
import { ContainerState, PodSandboxState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { Endpoint as EndpointService } from "../../src/gen/kuasar/endpoint/v1/endpoint_pb.js";
import { waitGone } from "../../src/pod/pod.js";
import { TtrpcClient } from "../../src/ttrpc/client.js";
import { serviceClient } from "../../src/ttrpc/service.js";
import { criClient, type CriClient } from "../../testing/cri.js";
import { decodeOut, podConfig, runPod, shContainer, waitExited } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd17WithKuasar, HANDLER_17 } from "../../testing/kuasar-containerd17.js";
import { afterRedial, containerd2WithKuasar, HANDLER } from "../../testing/kuasar-containerd2.js";
import { censusDiff, takeCensus } from "../../testing/leak-census.js";

assertIsolated();

const LOOP = "trap 'exit 0' TERM; while true; do sleep 0.1; done";

/** The endpoint's status through its control socket, waiting (up to 10 s) until its relay is not `not`. */
async function endpointStatus(stateDir: string, not?: number) {
  const started = Date.now();
  for (;;) {
    try {
      const client = await TtrpcClient.connect(stateSocketPath(stateDir, ENDPOINT_SOCKET), { timeoutMs: 500 });
      try {
        const st = await serviceClient(client, EndpointService).status({}, { timeoutMs: 1000 });
        if (st.pid !== not) return { ...st, waitedMs: Date.now() - started };
      } finally {
        client.destroy();
      }
    } catch (err) {
      if (Date.now() - started > 10_000) throw err;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** containerd's view of a running pod after the endpoint lost a process: nothing exited, exec and a new pod work. */
async function assertServed(t: TestContext, cri: CriClient, handler: string, dir: string, pod: { podId: string; cid: string }, tag: string) {
  // containerd 1.7 took a dropped shim connection for the death of every task and 2.x never
  // re-dials: both would say EXITED within a few seconds. Give them that time, then look.
  await new Promise((r) => setTimeout(r, 3000));
  const st = await cri.runtime.containerStatus({ containerId: pod.cid });
  assert.equal(st.status?.state, ContainerState.CONTAINER_RUNNING, `${tag}: the container is still running for containerd`);
  assert.equal((await cri.runtime.podSandboxStatus({ podSandboxId: pod.podId })).status?.state, PodSandboxState.SANDBOX_READY);
  // Exec goes over containerd's existing task connection: the one the endpoint kept.
  const ex = await cri.runtime.execSync({ containerId: pod.cid, cmd: ["echo", tag], timeout: 10n });
  assert.equal(decodeOut(ex.stdout), `${tag}\n`);
  const fresh = await runPod(cri, handler, podConfig(`fresh-${tag}`, `${dir}/logs/fresh-${tag}`), [shContainer(`f-${tag}`, "echo up; sleep 1000")]);
  t.diagnostic(`${tag}: new pod ${fresh.podId} started`);
  await cri.runtime.stopPodSandbox({ podSandboxId: fresh.podId });
  await cri.runtime.removePodSandbox({ podSandboxId: fresh.podId });
}

async function scenario(t: TestContext, flavour: "2.x" | "1.7") {
  const env = flavour === "2.x" ? await containerd2WithKuasar(t) : await containerd17WithKuasar(t);
  const handler = flavour === "2.x" ? HANDLER : HANDLER_17;
  const daemonPid = "sandboxer" in env ? env.sandboxer.pid : env.kuasard.pid;
  const stateDir = join(env.dir, "ks");
  const { cri } = env;
  // A warm-up pod first: kuasard's lazily opened connections (task events to containerd) are not leaks.
  const warm = await runPod(cri, handler, podConfig("warm", `${env.dir}/logs/warm`), [shContainer("w", "true")]);
  await cri.runtime.stopPodSandbox({ podSandboxId: warm.podId });
  await cri.runtime.removePodSandbox({ podSandboxId: warm.podId });
  const before = takeCensus({ fdPids: [daemonPid] });
  const { podId, ids } = await runPod(cri, handler, podConfig("p", `${env.dir}/logs/p`), [shContainer("c", LOOP)]);
  const pod = { podId, cid: ids[0]! };

  const first = await endpointStatus(stateDir);
  process.kill(first.pid, "SIGKILL");
  const second = await endpointStatus(stateDir, first.pid);
  t.diagnostic(`containerd ${flavour}: relay kill -9 -> a new relay serves after ${second.waitedMs} ms (generation ${second.relayGeneration})`);
  assert.equal(second.custodyPid, first.custodyPid);
  assert.ok(second.connections >= 1, "containerd's task connection is still held");
  await assertServed(t, cri, handler, env.dir, pod, "relay");

  process.kill(second.custodyPid, "SIGKILL");
  let third = await endpointStatus(stateDir);
  for (let i = 0; i < 100 && (third.custodyPid === second.custodyPid || third.custodyPid === 0); i++) {
    await new Promise((r) => setTimeout(r, 20));
    third = await endpointStatus(stateDir);
  }
  assert.notEqual(third.custodyPid, second.custodyPid, "the relay started a new custody process");
  assert.equal(await waitGone(second.custodyPid, 5000), true, "the killed custody process is gone (reaped)");
  await assertServed(t, cri, handler, env.dir, pod, "custody");
  // The new custody process holds the sockets: the relay may die again.
  process.kill(third.pid, "SIGKILL");
  await endpointStatus(stateDir, third.pid);
  await assertServed(t, cri, handler, env.dir, pod, "again");

  await cri.runtime.stopContainer({ containerId: pod.cid, timeout: 10n });
  assert.equal((await waitExited(cri, pod.cid)).exitCode, 0, "the container's real exit code");
  await cri.runtime.stopPodSandbox({ podSandboxId: pod.podId });
  await cri.runtime.removePodSandbox({ podSandboxId: pod.podId });
  const leaked = censusDiff(before, takeCensus({ fdPids: [daemonPid] }));
  // The endpoint's own two processes were replaced, not added; kuasard holds no more fds than before.
  delete leaked.cgroups;
  assert.deepEqual(leaked, {}, "nothing leaked");
}

/**
 * Both endpoint processes killed at once (the one case custody cannot cover, ADR 0005):
 * kuasard starts a new endpoint and new pods work at once. containerd itself cannot
 * settle the pods whose task connection it lost (it never re-dials a task connection,
 * and its exit handling needs a task Delete over it) until it restarts; after that they
 * stop and are removed, leaving nothing.
 */
async function bothKilled(t: TestContext, flavour: "2.x" | "1.7") {
  const env = flavour === "2.x" ? await containerd2WithKuasar(t) : await containerd17WithKuasar(t);
  const handler = flavour === "2.x" ? HANDLER : HANDLER_17;
  const stateDir = join(env.dir, "ks");
  const { cri } = env;
  const warm = await runPod(cri, handler, podConfig("warm", `${env.dir}/logs/warm`), [shContainer("w", "true")]);
  await cri.runtime.stopPodSandbox({ podSandboxId: warm.podId });
  await cri.runtime.removePodSandbox({ podSandboxId: warm.podId });
  const before = takeCensus({});
  const old = await runPod(cri, handler, podConfig("old", `${env.dir}/logs/old`), [shContainer("c", LOOP)]);
  const st = await endpointStatus(stateDir);
  // SIGSTOP first so that neither sees the other die and replaces it.
  for (const pid of [st.pid, st.custodyPid]) process.kill(pid, "SIGSTOP");
  for (const pid of [st.pid, st.custodyPid]) process.kill(pid, "SIGKILL");
  const fresh = await endpointStatus(stateDir, st.pid);
  t.diagnostic(`containerd ${flavour}: relay and custody kill -9 -> a new endpoint serves after ${fresh.waitedMs} ms`);
  assert.notEqual(fresh.custodyPid, st.custodyPid);
  const next = await runPod(cri, handler, podConfig("next", `${env.dir}/logs/next`), [shContainer("n", "echo up; sleep 1000")]);
  const ex = await cri.runtime.execSync({ containerId: next.ids[0]!, cmd: ["echo", "served"], timeout: 10n });
  assert.equal(decodeOut(ex.stdout), "served\n");
  let settled = cri;
  if ("restartContainerd" in env) {
    await env.restartContainerd();
    settled = env.cri;
  } else {
    cri.close();
    await env.containerd.restart();
    env.cri = settled = criClient(env.containerd);
    await afterRedial(() => settled.runtime.listPodSandbox({}));
  }
  for (const p of [old, next]) {
    await afterRedial(() => settled.runtime.stopPodSandbox({ podSandboxId: p.podId }));
    await settled.runtime.removePodSandbox({ podSandboxId: p.podId });
  }
  const leaked = censusDiff(before, takeCensus({}));
  delete leaked.cgroups; // other workers' containers share this machine's cgroup tree
  assert.deepEqual(leaked, {}, "the pod whose task connection was lost left nothing either");
}

describe("kill -9 of kuasar-endpoint's processes: containerd's tasks survive", () => {
  it("containerd 2.x direct (runc sandboxer)", async (t) => {
    await scenario(t, "2.x");
  });

  it("containerd 1.7 through the shim bridge", async (t) => {
    await scenario(t, "1.7");
  });

  it("both processes at once, containerd 2.x: a new endpoint serves, new pods work; after a containerd restart old pods are removed cleanly", async (t) => {
    await bothKilled(t, "2.x");
  });

  it("both processes at once, containerd 1.7: a new endpoint serves, new pods work; after a containerd restart old pods are removed cleanly", async (t) => {
    await bothKilled(t, "1.7");
  });
});
