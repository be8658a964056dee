import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isAlive, killQuietly, waitGone } from "../../src/pod/pod.js";
import type { CriClient } from "../harness/cri.js";
import { logFile, podConfig, runPod, shContainer, waitExited, waitForLog } from "../harness/cri-pod.js";
import { assertPodEndedAndCleaned, containerPid, holderPidOf, QUICK_MS, settledDiff, startTwoContainerPod } from "../harness/holder-death.js";
import { assertIsolated } from "../harness/isolation.js";
import { afterRedial, containerd2WithKuasar, GVISOR_HANDLER, HANDLER, WASM_HANDLER } from "../harness/kuasar-containerd2.js";
import { containerd17WithKuasar, HANDLER_17 } from "../harness/kuasar-containerd17.js";
import { importWasmImage } from "../harness/wasm-image.js";
import { infiniteLoopModule } from "../sandboxers/wasm/wat-modules.js";
import { censusDiff, takeCensus, type Census, type CensusScope } from "../harness/leak-census.js";

assertIsolated();

const WASM_IMAGE = "docker.io/library/wasm-demo:latest";

/** One pod run and removed first, so what the first pod creates for good (cgroup parents, CNI state) is in the baseline. */
async function warmUp(cri: CriClient, handler: string, logDir: string): Promise<void> {
  const { podId } = await runPod(cri, handler, podConfig("warm", join(logDir, "warm")), [shContainer("c", "exec sleep 1000")]);
  await cri.runtime.stopPodSandbox({ podSandboxId: podId }, { timeoutMs: QUICK_MS });
  await cri.runtime.removePodSandbox({ podSandboxId: podId }, { timeoutMs: QUICK_MS });
}

function scopeOf(dirs: string[], fdPids: number[]): CensusScope {
  return { dirs, fdPids };
}

/** The census counts what a running pod has (so an empty diff at the end means it is all gone); `ids` name its cgroups. */
function assertCensusSeesPod(scope: CensusScope, before: Census, ids: readonly string[], kinds: readonly (keyof Census)[] = ["processes", "mounts", "entries", "cgroups"]): void {
  const during = censusDiff(before, takeCensus(scope));
  during.cgroups = (during.cgroups ?? []).filter((c) => ids.some((id) => c.includes(id)));
  for (const k of kinds) assert.ok((during[k]?.length ?? 0) > 0, `the census counts the pod's ${k}: ${JSON.stringify(during)}`);
}

describe("a pod holder killed (kill -9) under stock containerd 2.x", () => {
  it("ends the pod: containers Exited 137, pod NotReady, Stop and Remove quick, nothing left", async (t) => {
    const env = await containerd2WithKuasar(t);
    const logDir = join(env.dir, "logs");
    await warmUp(env.cri, HANDLER, logDir);
    const scope = scopeOf([env.sandboxerDir, join(env.containerd.state, "io.containerd.runtime.v2.task")], [env.endpointPid, env.sandboxer.pid]);
    const before = takeCensus(scope);
    const pod = await startTwoContainerPod(env.cri, HANDLER, env.sandboxerDir, "victim", logDir);
    assertCensusSeesPod(scope, before, [pod.own, pod.shared]);
    killQuietly(pod.holderPid);
    await assertPodEndedAndCleaned(env.cri, HANDLER, pod, scope, before, logDir);
  });

  it("a holder that died while kuasard was down is found at recovery and handled the same way", async (t) => {
    const env = await containerd2WithKuasar(t);
    const logDir = join(env.dir, "logs");
    await warmUp(env.cri, HANDLER, logDir);
    // The daemon restarts (new pid): its fds are not comparable, the endpoint's are.
    const scope = scopeOf([env.sandboxerDir, join(env.containerd.state, "io.containerd.runtime.v2.task")], [env.endpointPid]);
    const before = takeCensus(scope);
    const pod = await startTwoContainerPod(env.cri, HANDLER, env.sandboxerDir, "victim", logDir);
    assertCensusSeesPod(scope, before, [pod.own, pod.shared]);
    await env.sandboxer.kill9();
    killQuietly(pod.holderPid);
    await env.restartSandboxer();
    await afterRedial(() => env.cri.runtime.podSandboxStatus({ podSandboxId: pod.podId }));
    await assertPodEndedAndCleaned(env.cri, HANDLER, pod, scope, before, logDir);
  });
});

describe("a pod holder killed (kill -9) under stock containerd 1.7 (shim bridge)", () => {
  it("ends the pod: the sandbox task and app tasks exit, containers Exited 137, pod NotReady, nothing left", async (t) => {
    const env = await containerd17WithKuasar(t);
    const logDir = join(env.dir, "logs");
    const sandboxerDir = join(env.dir, "kr");
    await warmUp(env.cri, HANDLER_17, logDir);
    const scope = scopeOf([sandboxerDir, join(env.containerd.state, "io.containerd.runtime.v2.task")], [env.endpointPid, env.kuasard.pid]);
    const before = takeCensus(scope);
    const pod = await startTwoContainerPod(env.cri, HANDLER_17, sandboxerDir, "victim", logDir);
    assertCensusSeesPod(scope, before, [pod.own, pod.shared]);
    killQuietly(pod.holderPid);
    await assertPodEndedAndCleaned(env.cri, HANDLER_17, pod, scope, before, logDir);
  });

  it("a holder that died while kuasard was down is found at recovery and handled the same way", async (t) => {
    const env = await containerd17WithKuasar(t);
    const logDir = join(env.dir, "logs");
    const sandboxerDir = join(env.dir, "kr");
    await warmUp(env.cri, HANDLER_17, logDir);
    const scope = scopeOf([sandboxerDir, join(env.containerd.state, "io.containerd.runtime.v2.task")], [env.endpointPid]);
    const before = takeCensus(scope);
    const pod = await startTwoContainerPod(env.cri, HANDLER_17, sandboxerDir, "victim", logDir);
    assertCensusSeesPod(scope, before, [pod.own, pod.shared]);
    await env.kuasard.kill9();
    killQuietly(pod.holderPid);
    await env.restartKuasard();
    await assertPodEndedAndCleaned(env.cri, HANDLER_17, pod, scope, before, logDir);
  });
});


describe("a gvisor pod holder killed (kill -9) under stock containerd 2.x", () => {
  it("tears the runsc sandbox down: containers Exited 137, pod NotReady, nothing left", async (t) => {
    const env = await containerd2WithKuasar(t, ["gvisor"]);
    const logDir = join(env.dir, "logs");
    await warmUp(env.cri, GVISOR_HANDLER, logDir);
    const scope = scopeOf([env.sandboxerDir, join(env.containerd.state, "io.containerd.runtime.v2.task")], [env.endpointPid, env.sandboxer.pid]);
    const before = takeCensus(scope);
    const pod = await startTwoContainerPod(env.cri, GVISOR_HANDLER, env.sandboxerDir, "victim", logDir, false);
    const sandboxPid = Number(readFileSync(join(env.sandboxerDir, "pods", pod.podId, "gvisor", "sandbox.pid"), "utf8").trim());
    assert.ok(isAlive(sandboxPid), "the runsc sandbox runs");
    pod.pids.push(sandboxPid);
    assertCensusSeesPod(scope, before, [pod.own, pod.shared]);
    killQuietly(pod.holderPid);
    await assertPodEndedAndCleaned(env.cri, GVISOR_HANDLER, pod, scope, before, logDir);
  });
});

describe("a wasm pod holder killed (kill -9) under stock containerd 2.x", () => {
  it("kills the pod's runner: the container Exited 137, pod NotReady, nothing left", async (t) => {
    const env = await containerd2WithKuasar(t, ["wasm"]);
    const { cri } = env;
    const logDir = join(env.dir, "logs");
    await importWasmImage(env.containerd, "k8s.io", WASM_IMAGE, { "loop.wasm": await infiniteLoopModule() }, "/loop.wasm");
    const loop = { metadata: { name: "loop", attempt: 0 }, image: { image: WASM_IMAGE }, command: ["/loop.wasm"], logPath: "loop.log" };
    const warm = await runPod(cri, WASM_HANDLER, podConfig("warm", join(logDir, "warm")), [loop]);
    await cri.runtime.stopPodSandbox({ podSandboxId: warm.podId }, { timeoutMs: QUICK_MS });
    await cri.runtime.removePodSandbox({ podSandboxId: warm.podId }, { timeoutMs: QUICK_MS });
    const scope = scopeOf([env.sandboxerDir, join(env.containerd.state, "io.containerd.runtime.v2.task")], [env.endpointPid, env.sandboxer.pid]);
    const before = takeCensus(scope);
    const cfg = podConfig("victim", join(logDir, "victim"));
    const { podId, ids } = await runPod(cri, WASM_HANDLER, cfg, [loop]);
    await waitForLog(logFile(cfg, loop), "looping");
    const runner = await containerPid(cri, ids[0]!);
    const holderPid = holderPidOf(env.sandboxerDir, podId);
    assertCensusSeesPod(scope, before, ids, ["processes", "mounts", "entries"]);
    killQuietly(holderPid);
    assert.equal((await waitExited(cri, ids[0]!, QUICK_MS)).exitCode, 137);
    assert.ok(await waitGone(runner, 5000), "the runner is gone");
    await cri.runtime.stopPodSandbox({ podSandboxId: podId }, { timeoutMs: QUICK_MS });
    await cri.runtime.removePodSandbox({ podSandboxId: podId }, { timeoutMs: QUICK_MS });
    assert.deepEqual(await settledDiff(scope, before, [podId, ...ids]), {}, "nothing left");
  });
});
