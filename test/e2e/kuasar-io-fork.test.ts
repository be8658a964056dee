import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { ContainerState, PodSandboxState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { shimProcesses, type CriClient } from "../harness/cri.js";
import { decodeOut, logFile, podConfig, runPod, shContainer, waitExited, waitForLog } from "../harness/cri-pod.js";
import { assertIsolated } from "../harness/isolation.js";
import { forkHandlerOf, forkWithKuasar, type ForkWithKuasar } from "../harness/kuasar-containerd-fork.js";
import type { E2eKind } from "../harness/kuasar-containerd2.js";
import { VMM_TEST_CONFIG } from "../harness/vm-pod.js";
import { importWasmImage } from "../harness/wasm-image.js";
import { echoArgsEnvFileModule } from "../sandboxers/wasm/wat-modules.js";
import { censusDiff, takeCensus, type CensusScope } from "../harness/leak-census.js";

assertIsolated();


/** What a leak would show up in: our state (pods, records, prepared bundles), containerd's, our daemons' fds. */
function scopeOf(env: ForkWithKuasar, kind: E2eKind): CensusScope {
  return {
    dirs: [env.dirOf(kind), join(env.dirOf(kind), "bundles"), join(env.containerd.state, "io.containerd.runtime.v2.task")],
    fdPids: [env.sandboxer.pid, env.endpointPid],
  };
}

/** One pod run and removed first, so what the first pod creates for good (cgroup parents, CNI state) is in the baseline. */
async function warmUp(cri: CriClient, handler: string, logDir: string): Promise<void> {
  const { podId } = await runPod(cri, handler, podConfig("warm", join(logDir, "warm")), [shContainer("c", "exec sleep 1000")]);
  await cri.runtime.stopPodSandbox({ podSandboxId: podId });
  await cri.runtime.removePodSandbox({ podSandboxId: podId });
}

/**
 * The pod scenario on the fork: two containers on localhost, ExecSync, the CRI log,
 * graceful stop, removal, nothing left. The fork made the pod through our Sandbox API
 * (Create/Start), had each container's bundle made by Prepare, dialled the task address
 * from Status and removed each bundle with Purge.
 */
async function podScenario(env: ForkWithKuasar, kind: E2eKind): Promise<void> {
  const { cri } = env;
  const handler = forkHandlerOf[kind];
  const logDir = join(env.dir, "logs");
  await warmUp(cri, handler, logDir);
  const scope = scopeOf(env, kind);
  const before = takeCensus(scope);

  const cfg = podConfig(`web-${kind}`, join(logDir, "web"));
  const server = shContainer("server", "echo started; while true; do echo hello-localhost | nc -l -p 8080; done");
  const client = shContainer("client", "trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done");
  const { podId, ids } = await runPod(cri, handler, cfg, [server, client]);
  const [serverId, clientId] = ids as [string, string];
  const pod = await cri.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true });
  assert.equal(pod.status?.state, PodSandboxState.SANDBOX_READY);
  // No pause container and no shim: the pod is our holder, the containers' tasks are served by kuasar-endpoint.
  assert.deepEqual(await shimProcesses(), []);
  const bundles = join(env.dirOf(kind), "bundles", podId);
  assert.deepEqual(readdirSync(bundles).sort(), [...ids].sort(), "Prepare made one bundle per container");
  // containerd kept the task address it read from Status next to the bundle, in the form it dials.
  assert.match(readFileSync(join(bundles, serverId, "address"), "utf8"), /^unix:\/\/\/.*task\.sock$/);

  assert.match(env.sandboxer.logs(), new RegExp(`"sandboxer":"${kind}".*"container_id":"${serverId}".*"msg":"container created"`));
  await waitForLog(logFile(cfg, server), "stdout F started");
  let got = "";
  for (let i = 0; i < 100 && !got.includes("hello-localhost"); i++) {
    got = decodeOut((await cri.runtime.execSync({ containerId: clientId, cmd: ["sh", "-c", "nc 127.0.0.1 8080 </dev/null"], timeout: 20n })).stdout);
    if (!got) await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(got, "hello-localhost\n");
  const ex = await cri.runtime.execSync({ containerId: clientId, cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"], timeout: 20n });
  assert.deepEqual([decodeOut(ex.stdout), decodeOut(ex.stderr), ex.exitCode], ["out\n", "err\n", 3]);

  await cri.runtime.stopContainer({ containerId: clientId, timeout: 10n });
  assert.equal((await waitExited(cri, clientId)).exitCode, 0);
  await waitForLog(logFile(cfg, client), "stdout F bye");
  await cri.runtime.removeContainer({ containerId: clientId });
  assert.ok(!existsSync(join(bundles, clientId)), "Purge removed the deleted container's bundle");
  await cri.runtime.stopPodSandbox({ podSandboxId: podId });
  assert.equal((await cri.runtime.containerStatus({ containerId: serverId })).status?.state, ContainerState.CONTAINER_EXITED);
  await cri.runtime.removePodSandbox({ podSandboxId: podId });
  assert.equal((await cri.runtime.listPodSandbox({})).items.length, 0);
  assert.ok(!existsSync(bundles), "Shutdown removed the pod's bundles");
  assert.deepEqual(await shimProcesses(), []);
  // The fork links each task's dir in its own state to the bundle Prepare made and never
  // removes the link (its bundle delete removes the target only): one dangling link per
  // container, in containerd's state, until containerd restarts and drops it.
  const left = ours(censusDiff(before, takeCensus(scope)), [podId, ...ids]);
  const taskState = join(env.containerd.state, "io.containerd.runtime.v2.task", "k8s.io");
  assert.deepEqual(left.entries?.sort(), ids.map((id) => join(taskState, id)).sort(), JSON.stringify(left));
  for (const id of ids) {
    assert.equal(readlinkSync(join(taskState, id)), join(bundles, id));
    assert.ok(!existsSync(join(taskState, id)), "the link's target, our bundle, is gone");
  }
  assert.deepEqual({ ...left, entries: undefined }, { entries: undefined });
  await env.containerd.restart();
  assert.deepEqual(ours(censusDiff(before, takeCensus(scope)), [podId, ...ids]), {});
}

/**
 * A census difference without the cgroups of others: the machine's cgroup tree is shared
 * with other test runs, so only cgroups named after this pod's ids are counted.
 */
function ours(diff: ReturnType<typeof censusDiff>, ids: readonly string[]): ReturnType<typeof censusDiff> {
  const cgroups = (diff.cgroups ?? []).filter((c) => ids.some((id) => c.includes(id)));
  const { cgroups: _all, ...rest } = diff;
  return cgroups.length > 0 ? { ...rest, cgroups } : rest;
}

const WASM_IMAGE = "docker.io/library/wasm-demo:latest";

/** A WASI module in a wasm pod on the fork: args, env, a preopened volume and its exit status reach CRI. */
async function wasmPod(t: TestContext, env: ForkWithKuasar): Promise<void> {
  const { cri } = env;
  const handler = forkHandlerOf.wasm;
  await importWasmImage(env.containerd, "k8s.io", WASM_IMAGE, { "echo.wasm": await echoArgsEnvFileModule() }, "/echo.wasm");
  const vol = mkdtempSync("/tmp/wasm-vol-");
  t.after(() => rmSync(vol, { recursive: true, force: true }));
  const cfg = podConfig("wasm-pod", join(env.dir, "logs", "wasm-pod"));
  const echo = {
    metadata: { name: "echo", attempt: 0 },
    image: { image: WASM_IMAGE },
    command: ["/echo.wasm"],
    args: ["from", "the-fork"],
    envs: [{ key: "GREETING", value: new TextEncoder().encode("hi-wasm") }],
    mounts: [{ containerPath: "/data", hostPath: vol }],
    logPath: "echo.log",
  };
  const { podId, ids } = await runPod(cri, handler, cfg, [echo]);
  assert.equal((await waitExited(cri, ids[0]!)).exitCode, 5);
  const out = await waitForLog(logFile(cfg, echo), "GREETING=hi-wasm");
  assert.match(out, /stdout F arg: the-fork/);
  assert.equal(readFileSync(join(vol, "out.txt"), "utf8"), "written by wasm\n");
  assert.match(env.sandboxer.logs(), /"sandboxer":"wasm".*"msg":"container created"/);
  await cri.runtime.stopPodSandbox({ podSandboxId: podId });
  await cri.runtime.removePodSandbox({ podSandboxId: podId });
  assert.ok(!existsSync(join(env.dirOf("wasm"), "bundles", podId)), "Shutdown removed the pod's bundles");
}

describe("the kuasar-io containerd fork (main, 1.7.0 based, ENABLE_CRI_SANDBOXES=1)", () => {
  it("runs the pod scenario on a runc pod through runc-sandboxer --sandbox-api kuasar-io: localhost, ExecSync, logs, graceful stop, removal, nothing left", async (t) => {
    const env = await forkWithKuasar(t, ["runc"]);
    await podScenario(env, "runc");
  });

  it("runs the pod scenario on a gvisor pod and a WASI module in a wasm pod through one kuasard whose sockets say sandbox_api = \"kuasar-io\"", async (t) => {
    const env = await forkWithKuasar(t, ["runc", "gvisor", "wasm"]);
    await podScenario(env, "gvisor");
    await wasmPod(t, env);
  });

  it("runs the pod scenario on a vmm pod (a QEMU micro-VM) through kuasard with sandbox_api = \"kuasar-io\"", async (t) => {
    const env = await forkWithKuasar(t, ["runc", "vmm"], VMM_TEST_CONFIG);
    await podScenario(env, "vmm");
  });
});
