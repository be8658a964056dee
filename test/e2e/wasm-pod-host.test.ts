import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ContainerState, PodSandboxState, type ContainerConfigSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import type { Containerd } from "../../testing/containerd.js";
import type { CriClient } from "../../testing/cri.js";
import { logFile, podConfig, runPod, waitExited, waitForLog } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { afterRedial, containerd2WithKuasar, WASM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { containerd17WithKuasar, WASM_HANDLER_17 } from "../../testing/kuasar-containerd17.js";
import { censusDiff, takeCensus } from "../../testing/leak-census.js";
import { importWasmImage } from "../../testing/wasm-image.js";
import { bigInitialMemoryModule, echoArgsEnvFileModule, infiniteLoopModule, trapModule } from "../../testing/wat-modules.js";
import { wasmEdgePodSkip } from "../../testing/wasm-pod-host.js";

assertIsolated();

const skip = wasmEdgePodSkip;

/** kuasard's wasm table is the last one the harness writes, so this line lands in `[sandboxers.wasm]`. */
const POD_HOST = `wasm_engine = "wasmedge-pod"\n`;
const IMAGE = "docker.io/library/wasm-pod-host:latest";
type ContainerConfig = MessageInitShape<typeof ContainerConfigSchema>;

const wasm = (name: string, module: string, extra: Partial<ContainerConfig> = {}): ContainerConfig =>
  ({ ...extra, metadata: { name, attempt: 0 }, image: { image: IMAGE }, command: [`/${module}`], logPath: `${name}.log` }) as ContainerConfig;

/**
 * One pod, containers in the one wasm host: a loop keeps running while a sibling traps and
 * another is stopped by its memory cap (the same module without a cap runs); then the loop is
 * stopped and the pod removed.
 */
async function isolatedInOnePod(cri: CriClient, handler: string, logDir: string, ctr?: Containerd): Promise<void> {
  const cfg = podConfig("wasm-pod-host", logDir);
  const loop = wasm("loop", "loop.wasm");
  const { podId, ids } = await runPod(cri, handler, cfg, [loop]);
  await waitForLog(logFile(cfg, loop), "looping");
  const hosts = processesNamed("kuasar-wasm-hos");
  const instances = processesNamed("wasm-instance");
  assert.equal(hosts.length, 1, "the pod's host");
  assert.equal(instances.length, 1, "the loop's instance");
  assert.deepEqual(instances.map(parentOf), hosts, "the instance is a fork of the host");
  if (ctr) {
    // Pause stops the instance itself (not only its runner); Resume lets it go on.
    const instance = instances[0]!;
    await ctr.ctr(["tasks", "pause", ids[0]!], { namespace: "k8s.io" });
    // SIGSTOP takes hold when the instance next runs: on a loaded machine, a moment after the kill.
    for (let i = 0; i < 200 && stateOf(instance) !== "T"; i++) await sleep(10);
    assert.equal(stateOf(instance), "T");
    await ctr.ctr(["tasks", "resume", ids[0]!], { namespace: "k8s.io" });
    assert.notEqual(stateOf(instance), "T");
  }
  const run = async (c: ContainerConfig) => {
    const { containerId } = await cri.runtime.createContainer({ podSandboxId: podId, config: c, sandboxConfig: cfg });
    await cri.runtime.startContainer({ containerId });
    return waitExited(cri, containerId);
  };
  // exec: another WASI command of the image, in the running container (no /data here: exit 3).
  const ex = await cri.runtime.execSync({ containerId: ids[0]!, cmd: ["/echo.wasm", "from-exec"], timeout: 30n });
  assert.equal(ex.exitCode, 3);
  assert.equal(new TextDecoder().decode(ex.stdout), "arg: /echo.wasm\narg: from-exec\n");
  await assert.rejects(cri.runtime.execSync({ containerId: ids[0]!, cmd: ["sh"], timeout: 10n }), /module \/sh not found/);
  const trap = wasm("trap", "trap.wasm");
  assert.equal((await run(trap)).exitCode, 134);
  await waitForLog(logFile(cfg, trap), "wasm trap: unreachable");
  const capped = await run(wasm("big", "big.wasm", { linux: { resources: { memoryLimitInBytes: 2n << 20n } } }));
  assert.equal(capped.exitCode, 137);
  assert.equal(capped.reason, "OOMKilled");
  assert.equal((await run(wasm("big-free", "big.wasm"))).exitCode, 0);
  assert.equal((await cri.runtime.containerStatus({ containerId: ids[0]! })).status?.state, ContainerState.CONTAINER_RUNNING, "the loop outlived its siblings");
  await cri.runtime.stopContainer({ containerId: ids[0]!, timeout: 2n });
  assert.equal((await waitExited(cri, ids[0]!)).exitCode, 143);
  await cri.runtime.stopPodSandbox({ podSandboxId: podId });
  await cri.runtime.removePodSandbox({ podSandboxId: podId });
}

/** The one wasm host of the test's namespace, once it is up (it is started without waiting for it). */
async function theHost(): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const hosts = processesNamed("kuasar-wasm-hos");
    if (hosts.length === 1) return hosts[0]!;
    await sleep(20);
  }
  throw new Error(`wasm hosts: ${JSON.stringify(processesNamed("kuasar-wasm-hos"))}, wanted one`);
}

async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(10);
  }
  throw new Error(`process ${pid} still there`);
}

/**
 * The host is up at the pod's start (forked from the node's zygote into the pod, before any container);
 * killed with SIGKILL before the first container, that container's runner starts another;
 * killed with a container running, the container ends 137, the pod is still reported Ready
 * and its next container runs on a new host.
 */
async function hostFromPodStart(cri: CriClient, handler: string, logDir: string): Promise<void> {
  const cfg = podConfig("wasm-host-start", logDir);
  const { podId } = await runPod(cri, handler, cfg, []);
  const early = await theHost();
  assertJoinedThePod(early);
  process.kill(early, "SIGKILL");
  await gone(early);
  const run = async (c: ContainerConfig) => {
    const { containerId } = await cri.runtime.createContainer({ podSandboxId: podId, config: c, sandboxConfig: cfg });
    await cri.runtime.startContainer({ containerId });
    return containerId;
  };
  const loop = wasm("loop", "loop.wasm");
  const loopId = await run(loop);
  await waitForLog(logFile(cfg, loop), "looping");
  const second = await theHost();
  assert.notEqual(second, early, "started again on demand");
  process.kill(second, "SIGKILL");
  const ended = await waitExited(cri, loopId);
  assert.equal(ended.exitCode, 137, "the container ended as its instance did (SIGKILL with its host)");
  assert.equal((await cri.runtime.podSandboxStatus({ podSandboxId: podId })).status?.state, PodSandboxState.SANDBOX_READY, "the pod is still reported");
  assert.deepEqual(processesNamed("wasm-instance"), [], "no instance outlived its host");
  const trap = wasm("trap", "trap.wasm");
  assert.equal((await waitExited(cri, await run(trap))).exitCode, 134);
  await cri.runtime.stopPodSandbox({ podSandboxId: podId });
  await cri.runtime.removePodSandbox({ podSandboxId: podId });
  assert.deepEqual(processesNamed("kuasar-wasm-hos"), [], "the pod's host ended with it");
}

/**
 * The host at the pod's start is a fork of the node's wasm zygote that joined the pod: the
 * holder's network, IPC and UTS namespaces, the pid namespace of its children and its cgroups.
 */
function assertJoinedThePod(host: number): void {
  const [holder, ...others] = processesNamed("kuasar-holder");
  assert.ok(holder !== undefined && others.length === 0, "one pod, one holder");
  assert.equal(processesNamed("wasm-zygote").length, 1, "the node's one zygote");
  assert.equal(parentOf(host), processesNamed("wasm-zygote")[0], "forked by the zygote");
  for (const ns of ["net", "ipc", "uts"]) assert.equal(readlinkSync(`/proc/${host}/ns/${ns}`), readlinkSync(`/proc/${holder}/ns/${ns}`), `the pod's ${ns} namespace`);
  assert.equal(readlinkSync(`/proc/${host}/ns/pid`), readlinkSync(`/proc/${holder}/ns/pid_for_children`), "the pid namespace of the holder's children");
  assert.equal(readFileSync(`/proc/${host}/cgroup`, "utf8"), readFileSync(`/proc/${holder}/cgroup`, "utf8"), "the holder's cgroups");
}

/** Pids of processes whose name (comm, 15 characters) is `comm`. */
function processesNamed(comm: string): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/comm`, "utf8").trim() === comm;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

function stateOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
}

async function importModules(env: { containerd: Parameters<typeof importWasmImage>[0] }): Promise<void> {
  await importWasmImage(env.containerd, "k8s.io", IMAGE, { "loop.wasm": await infiniteLoopModule(), "trap.wasm": await trapModule(), "big.wasm": await bigInitialMemoryModule(64), "echo.wasm": await echoArgsEnvFileModule() }, "/loop.wasm");
}

/** Runs `scenario` and checks it left no host, instance, holder or runner behind. */
async function leavesNoWasmProcess(scenario: () => Promise<void>): Promise<void> {
  const before = takeCensus();
  await scenario();
  const left = (censusDiff(before, takeCensus()).processes ?? []).filter((p) => /kuasar-wasm|kuasar-holder|ld-linux|wasm-instance/.test(p));
  assert.deepEqual(left, []);
}

describe("the pod-level wasm host (wasm_engine = \"wasmedge-pod\")", { skip }, () => {
  it("containerd 2.x: one container traps, one is capped, the other keeps running (pauses, takes an exec); nothing is left after the pod", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc", "wasm"], POD_HOST);
    await importModules(env);
    const before = takeCensus();
    await isolatedInOnePod(env.cri, WASM_HANDLER, `${env.dir}/logs/pod-host`, env.containerd);
    // The host, its instances and the runners all end with the pod.
    const left = (censusDiff(before, takeCensus()).processes ?? []).filter((p) => /kuasar-wasm|kuasar-holder|ld-linux/.test(p));
    assert.deepEqual(left, []);
    assert.match(env.sandboxer.logs(), /"engine":"wasmedge-pod".*"msg":"container created"/);
  });

  it("containerd 1.7 (shim bridge): the same", async (t) => {
    const env = await containerd17WithKuasar(t, ["runc", "wasm"], POD_HOST);
    await importModules(env);
    await isolatedInOnePod(env.cri, WASM_HANDLER_17, `${env.dir}/logs/pod-host17`);
  });

  it("containerd 2.x: kuasard killed and restarted: the pod's containers run on, take a new sibling and an exec, and stop", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc", "wasm"], POD_HOST);
    await importModules(env);
    const cfg = podConfig("wasm-pod-restart", `${env.dir}/logs/restart`);
    const loop = wasm("loop", "loop.wasm");
    const { podId, ids } = await runPod(env.cri, WASM_HANDLER, cfg, [loop]);
    await waitForLog(logFile(cfg, loop), "looping");
    await env.sandboxer.kill9();
    await env.restartSandboxer();
    // containerd redials the sandboxer's socket on its own backoff.
    await afterRedial(() => env.cri.runtime.podSandboxStatus({ podSandboxId: podId }));
    assert.equal((await env.cri.runtime.containerStatus({ containerId: ids[0]! })).status?.state, ContainerState.CONTAINER_RUNNING);
    const trap = wasm("trap", "trap.wasm");
    const { containerId } = await env.cri.runtime.createContainer({ podSandboxId: podId, config: trap, sandboxConfig: cfg });
    await env.cri.runtime.startContainer({ containerId });
    assert.equal((await waitExited(env.cri, containerId)).exitCode, 134);
    const ex = await env.cri.runtime.execSync({ containerId: ids[0]!, cmd: ["/echo.wasm", "after-restart"], timeout: 30n });
    assert.equal(new TextDecoder().decode(ex.stdout), "arg: /echo.wasm\narg: after-restart\n");
    await env.cri.runtime.stopContainer({ containerId: ids[0]!, timeout: 2n });
    assert.equal((await waitExited(env.cri, ids[0]!)).exitCode, 143);
    await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: podId });
    assert.deepEqual(processesNamed("kuasar-wasm-hos"), [], "the pod's host ended with it");
    assert.deepEqual(processesNamed("wasm-instance"), [], "and its instances");
  });

  it("containerd 2.x: the host is up at the pod's start; kill -9 of the host before and after the first container", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc", "wasm"], POD_HOST);
    await importModules(env);
    await leavesNoWasmProcess(() => hostFromPodStart(env.cri, WASM_HANDLER, `${env.dir}/logs/host-start`));
  });

  it("containerd 1.7 (shim bridge): the host from the pod's start, kill -9 before and after the first container", async (t) => {
    const env = await containerd17WithKuasar(t, ["runc", "wasm"], POD_HOST);
    await importModules(env);
    await leavesNoWasmProcess(() => hostFromPodStart(env.cri, WASM_HANDLER_17, `${env.dir}/logs/host-start17`));
  });

  it("containerd 2.x: kill -9 of the node's wasm zygote: a running pod goes on, the next pod gets a host from a new one; nothing is left", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc", "wasm"], POD_HOST);
    await importModules(env);
    await leavesNoWasmProcess(async () => {
      const cfgA = podConfig("wasm-zygote-a", `${env.dir}/logs/zygote-a`);
      const loop = wasm("loop", "loop.wasm");
      const a = await runPod(env.cri, WASM_HANDLER, cfgA, [loop]);
      await waitForLog(logFile(cfgA, loop), "looping");
      const [zygote, ...more] = processesNamed("wasm-zygote");
      assert.ok(zygote !== undefined && more.length === 0, "one zygote");
      const hostA = await theHost();
      process.kill(zygote, "SIGKILL");
      await gone(zygote);
      assert.equal((await env.cri.runtime.containerStatus({ containerId: a.ids[0]! })).status?.state, ContainerState.CONTAINER_RUNNING, "pod A's container runs on");
      assert.deepEqual(processesNamed("kuasar-wasm-hos"), [hostA], "on its host");
      await sleep(1100); // a dead zygote is started again by a request a second after, at the earliest
      const cfgB = podConfig("wasm-zygote-b", `${env.dir}/logs/zygote-b`);
      const b = await runPod(env.cri, WASM_HANDLER, cfgB, [loop]);
      await waitForLog(logFile(cfgB, loop), "looping");
      const [newZygote] = processesNamed("wasm-zygote");
      assert.ok(newZygote !== undefined && newZygote !== zygote, "a new zygote");
      const hosts = processesNamed("kuasar-wasm-hos");
      assert.equal(hosts.length, 2, "pod B has its own host");
      const hostB = hosts.find((h) => h !== hostA)!;
      assert.equal(parentOf(hostB), newZygote, "forked by the new zygote");
      for (const [podId, id] of [[a.podId, a.ids[0]!], [b.podId, b.ids[0]!]] as const) {
        await env.cri.runtime.stopContainer({ containerId: id, timeout: 2n });
        assert.equal((await waitExited(env.cri, id)).exitCode, 143);
        await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
        await env.cri.runtime.removePodSandbox({ podSandboxId: podId });
      }
    });
    assert.equal(processesNamed("wasm-zygote").length, 1, "the zygote stays with the daemon");
  });

  it("containerd 2.x: a host started with the pod is adopted after kuasard restarts: its first container runs on it", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc", "wasm"], POD_HOST);
    await importModules(env);
    const cfg = podConfig("wasm-host-adopted", `${env.dir}/logs/adopted`);
    const { podId } = await runPod(env.cri, WASM_HANDLER, cfg, []);
    const host = await theHost();
    const zygote = processesNamed("wasm-zygote");
    assert.equal(zygote.length, 1, "the node's zygote made it");
    await env.sandboxer.kill9();
    await gone(zygote[0]!); // it leaves with the daemon; the host it made does not
    assert.deepEqual(processesNamed("kuasar-wasm-hos"), [host]);
    await env.restartSandboxer();
    await afterRedial(() => env.cri.runtime.podSandboxStatus({ podSandboxId: podId }));
    const loop = wasm("loop", "loop.wasm");
    const { containerId } = await env.cri.runtime.createContainer({ podSandboxId: podId, config: loop, sandboxConfig: cfg });
    await env.cri.runtime.startContainer({ containerId });
    await waitForLog(logFile(cfg, loop), "looping");
    assert.deepEqual(processesNamed("kuasar-wasm-hos"), [host], "the same host, not a second one");
    assert.deepEqual(processesNamed("wasm-instance").map(parentOf), [host]);
    await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: podId });
    assert.deepEqual(processesNamed("kuasar-wasm-hos"), [], "the pod's host ended with it");
  });
});
