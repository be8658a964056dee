import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { Controller } from "../../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";
import { MetricsSchema } from "../../src/gen/io/containerd/cgroups/v1/metrics_pb.js";
import { GrpcClient } from "../../src/grpc/client.js";
import { ContainerState, PodSandboxState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { shimProcesses } from "../../testing/cri.js";
import { decodeOut, logFile, podConfig, runPod, shContainer, waitExited, waitForLog } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2WithKuasar, type Containerd2WithKuasar, HANDLER } from "../../testing/kuasar-containerd2.js";
import { TeardownScope } from "../../testing/teardown-scope.js";

assertIsolated();

describe("runc sandboxer under stock containerd 2.x (proxy sandbox plugin, CRI)", () => {
  // One containerd and one kuasard for every behaviour below; each `it` names one, the two-container pod's in order.
  const scope = new TeardownScope();
  let env: Containerd2WithKuasar;
  before(async () => {
    env = await containerd2WithKuasar(scope);
  });
  after(() => scope.run());

  describe("a two-container pod", () => {
    const cfg = () => podConfig("web", `${env.dir}/logs/web`);
    const server = shContainer("server", "echo started; echo hello-localhost > /tmp/index.html; echo ipc-token > /dev/shm/token; exec httpd -f -p 127.0.0.1:8080 -h /tmp");
    const client = shContainer("client", "trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done");
    let seen = "";
    let podId = "";
    let serverId = "";
    let clientId = "";

    it("runs Ready with no pause container and no containerd-shim", async () => {
      const events = spawn(env.containerd.binaries.ctr, ["--address", env.containerd.address, "events"], { stdio: ["ignore", "pipe", "ignore"] });
      scope.after(() => events.kill("SIGKILL"));
      events.stdout.setEncoding("utf8").on("data", (d: string) => (seen += d));
      const run = await runPod(env.cri, HANDLER, cfg(), [server, client]);
      podId = run.podId;
      [serverId, clientId] = run.ids as [string, string];
      const pod = await env.cri.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true });
      assert.equal(pod.status?.state, PodSandboxState.SANDBOX_READY);
      assert.deepEqual(await shimProcesses(), [], "no containerd-shim process");
      await waitForLog(logFile(cfg(), server), "stdout F started");
    });

    it("its containers share localhost, IPC (/dev/shm and the namespace) and the pod's hostname", async () => {
      const { cri } = env;
      // localhost between containers of the pod (retry until httpd listens)
      let got = "";
      for (let i = 0; i < 50 && !got.includes("hello-localhost"); i++) {
        const r = await cri.runtime.execSync({ containerId: clientId, cmd: ["wget", "-qO-", "http://127.0.0.1:8080/index.html"], timeout: 10n });
        got = decodeOut(r.stdout);
        if (!got) await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(got, "hello-localhost\n");
      const shm = await cri.runtime.execSync({ containerId: clientId, cmd: ["cat", "/dev/shm/token"], timeout: 10n });
      assert.equal(decodeOut(shm.stdout), "ipc-token\n");
      // ... a tmpfs of the configured size (64 MiB), mounted by the pod's holder.
      const shmMount = await cri.runtime.execSync({ containerId: clientId, cmd: ["sh", "-c", "grep ' /dev/shm ' /proc/mounts"], timeout: 10n });
      assert.match(decodeOut(shmMount.stdout), /^\S+ \/dev\/shm tmpfs \S*size=65536k/m);
      const ipcA = await cri.runtime.execSync({ containerId: serverId, cmd: ["readlink", "/proc/self/ns/ipc"], timeout: 10n });
      const ipcB = await cri.runtime.execSync({ containerId: clientId, cmd: ["readlink", "/proc/self/ns/ipc"], timeout: 10n });
      assert.equal(decodeOut(ipcA.stdout), decodeOut(ipcB.stdout));
      const host = await cri.runtime.execSync({ containerId: clientId, cmd: ["hostname"], timeout: 10n });
      assert.equal(decodeOut(host.stdout), "web\n");
    });

    it("ExecSync returns stdout, stderr and the exit code", async () => {
      const ex = await env.cri.runtime.execSync({ containerId: clientId, cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"], timeout: 10n });
      assert.deepEqual([decodeOut(ex.stdout), decodeOut(ex.stderr), ex.exitCode], ["out\n", "err\n", 3]);
    });

    it("UpdateContainerResources reaches runc, and the Sandbox API reports real cgroup numbers", async () => {
      const { cri } = env;
      await cri.runtime.updateContainerResources({ containerId: serverId, linux: { memoryLimitInBytes: 64n << 20n } });
      const limit = await cri.runtime.execSync({ containerId: serverId, cmd: ["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"], timeout: 10n });
      assert.equal(decodeOut(limit.stdout).trim(), String(64 << 20));
      const sandboxApi = new GrpcClient(env.listen, { namespace: "k8s.io" });
      scope.after(() => sandboxApi.close());
      const m = await sandboxApi.service(Controller).metrics({ sandboxId: podId });
      assert.equal(m.metrics?.data?.typeUrl, "io.containerd.cgroups.v1.Metrics");
      const cg = fromBinary(MetricsSchema, m.metrics!.data!.value);
      assert.ok(cg.memory!.usage!.usage > 0n && cg.pids!.current >= 2n, `memory ${cg.memory?.usage?.usage} pids ${cg.pids?.current}`);
    });

    it("StopContainer with a grace period runs the TERM handler (exit 0), and the task events reach containerd's bus with its topics", async () => {
      const { cri } = env;
      await cri.runtime.stopContainer({ containerId: clientId, timeout: 10n });
      const st = await waitExited(cri, clientId);
      assert.equal(st.exitCode, 0);
      await waitForLog(logFile(cfg(), client), "stdout F bye");
      for (let i = 0; i < 50 && !seen.includes(`/tasks/exit {"container_id":"${clientId}"`); i++) await new Promise((r) => setTimeout(r, 100));
      for (const topic of ["/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started"]) {
        assert.match(seen, new RegExp(`k8s\\.io ${topic} \\{"container_id":"${clientId}"`), topic);
      }
      assert.match(seen, new RegExp(`k8s\\.io /tasks/exit \\{"container_id":"${clientId}","id":"${clientId}","pid":\\d+`));
    });

    it("pulled no pause image", async () => {
      const images = await env.cri.image.listImages({});
      assert.ok(images.images.every((i) => !i.repoTags.some((tag) => tag.includes("pause"))), "no pause image in the store");
    });

    it("stops (its containers Exited) and is removed, no containerd-shim left", async () => {
      const { cri } = env;
      await cri.runtime.stopPodSandbox({ podSandboxId: podId });
      assert.equal((await cri.runtime.containerStatus({ containerId: serverId })).status?.state, ContainerState.CONTAINER_EXITED);
      await cri.runtime.removePodSandbox({ podSandboxId: podId });
      assert.equal((await cri.runtime.listPodSandbox({})).items.length, 0);
      assert.deepEqual(await shimProcesses(), [], "no containerd-shim process");
    });
  });

  it("shares one pid namespace between containers when the pod asks for it, and only then", async () => {
    const { cri } = env;
    const shared = podConfig("shared", `${env.dir}/logs/shared`, { sharedPid: true });
    const a = await runPod(cri, HANDLER, shared, [shContainer("a", "exec sleep 4242", { sharedPid: true }), shContainer("b", "exec sleep 4343", { sharedPid: true })]);
    const ps = decodeOut((await cri.runtime.execSync({ containerId: a.ids[1]!, cmd: ["ps", "-o", "args"], timeout: 10n })).stdout);
    assert.match(ps, /sleep 4242/, "b sees a's process");
    const own = podConfig("own", `${env.dir}/logs/own`);
    const b = await runPod(cri, HANDLER, own, [shContainer("c", "exec sleep 4444"), shContainer("d", "exec sleep 4545")]);
    const ps2 = decodeOut((await cri.runtime.execSync({ containerId: b.ids[1]!, cmd: ["ps", "-o", "args"], timeout: 10n })).stdout);
    assert.doesNotMatch(ps2, /sleep 4444/, "d does not see c's process");
    assert.match(decodeOut((await cri.runtime.execSync({ containerId: b.ids[1]!, cmd: ["cat", "/proc/1/cmdline"], timeout: 10n })).stdout), /^sleep\x004545/);
    for (const p of [a.podId, b.podId]) {
      await cri.runtime.stopPodSandbox({ podSandboxId: p });
      await cri.runtime.removePodSandbox({ podSandboxId: p });
    }
  });

  it("reports exact exit codes: exit 42, SIGKILL 137, a TERM-ignoring container killed after its grace period", async () => {
    const { cri } = env;
    const cfg = podConfig("codes", `${env.dir}/logs/codes`);
    const { podId, ids } = await runPod(cri, HANDLER, cfg, [
      shContainer("exit42", "exit 42"),
      shContainer("sleeper", "exec sleep 1000"),
      shContainer("stubborn", "trap '' TERM; while true; do sleep 0.1; done"),
    ]);
    const [e42, sleeper, stubborn] = ids as [string, string, string];
    assert.equal((await waitExited(cri, e42)).exitCode, 42);
    await cri.runtime.stopContainer({ containerId: sleeper, timeout: 0n });
    assert.equal((await waitExited(cri, sleeper)).exitCode, 137);
    const before = Date.now();
    await cri.runtime.stopContainer({ containerId: stubborn, timeout: 1n });
    const s = await waitExited(cri, stubborn);
    assert.equal(s.exitCode, 137);
    assert.ok(Date.now() - before >= 900, "waited for the grace period before SIGKILL");
    await cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await cri.runtime.removePodSandbox({ podSandboxId: podId });
  });
});
