import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { spawnSync } from "node:child_process";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "../../src/errors/code.js";
import { Controller } from "../../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";
import {
  CloseIORequestSchema,
  DeleteRequestSchema,
  ExecProcessRequestSchema,
  StartRequestSchema,
  WaitRequestSchema,
  WaitResponseSchema,
} from "../../src/gen/containerd/task/v3/shim_pb.js";
import { OCI_PROCESS_URL } from "../../src/task/task-service.js";
import { PodSandboxConfigSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { GrpcClient } from "../../src/grpc/client.js";
import { LABELS_INFO_KEY } from "../../src/sandbox/sandbox-wire.js";
import { TtrpcClient } from "../../src/ttrpc/client.js";
import { podConfig, runPod, shContainer, waitExited } from "../../testing/cri-pod.js";
import type { CriClient } from "../../testing/cri.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd17WithKuasar, handler17Of } from "../../testing/kuasar-containerd17.js";
import { containerd2WithKuasar, GVISOR_HANDLER, HANDLER, VMM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { VMM_TEST_CONFIG } from "../../testing/vm-pod.js";
import { loneRuncSandboxer } from "../../testing/lone-sandboxer.js";
import { censusDiff, takeCensus } from "../../testing/leak-census.js";

assertIsolated();

/** Namespaced sysctls of all three kinds, each away from the kernel's default (0, 10, 1024). */
const SYSCTLS = { "kernel.shm_rmid_forced": "1", "fs.mqueue.msg_max": "100", "net.ipv4.ip_unprivileged_port_start": "0" };
const TASK_V3 = "containerd.task.v3.Task";
const READ_SYSCTLS = ["cat", "/proc/sys/kernel/shm_rmid_forced", "/proc/sys/fs/mqueue/msg_max", "/proc/sys/net/ipv4/ip_unprivileged_port_start"];

/** Runs a pod with {@link SYSCTLS} and returns what a container of it reads in /proc/sys. */
async function sysctlsSeenInPod(cri: CriClient, handler: string, logDir: string): Promise<{ podId: string; seen: string }> {
  const cfg = podConfig("sysctls", logDir);
  cfg.linux = { ...cfg.linux, sysctls: SYSCTLS };
  const { podId, ids } = await runPod(cri, handler, cfg, [shContainer("c", "sleep 100000")]);
  const ex = await cri.runtime.execSync({ containerId: ids[0]!, cmd: READ_SYSCTLS, timeout: 20n });
  assert.equal(ex.exitCode, 0, Buffer.from(ex.stderr).toString());
  return { podId, seen: Buffer.from(ex.stdout).toString() };
}

async function removePod(cri: CriClient, podId: string): Promise<void> {
  await cri.runtime.stopPodSandbox({ podSandboxId: podId });
  await cri.runtime.removePodSandbox({ podSandboxId: podId });
}

/** RunPodSandbox with a host-level sysctl: refused naming the key, and nothing of the pod is left. */
async function hostSysctlRefused(cri: CriClient, handler: string, logDir: string, scope: { dirs: string[]; fdPids: number[] }): Promise<void> {
  const cfg = podConfig("hostlevel", logDir);
  cfg.linux = { ...cfg.linux, sysctls: { "kernel.shm_rmid_forced": "1", "vm.swappiness": "10" } };
  const before = takeCensus({ ...scope, cgroupRoots: [] });
  await assert.rejects(cri.runtime.runPodSandbox({ config: cfg, runtimeHandler: handler }, { timeoutMs: 120_000 }), (err: Error & { code: Code }) => {
    assert.match(err.message, /"vm\.swappiness" is not namespaced/);
    assert.equal(err.code, Code.InvalidArgument, err.message);
    return true;
  });
  assert.deepEqual(censusDiff(before, takeCensus({ ...scope, cgroupRoots: [] })), {});
  assert.deepEqual((await cri.runtime.listPodSandbox({})).items.filter((p) => p.metadata?.name === "hostlevel"), []);
}

describe("pod sysctls, CloseIO after exit and Status labels", () => {
  it("containerd 2.x, runc: a pod's namespaced sysctls are seen inside it, a host-level one is refused and leaves nothing", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc"]);
    const { podId, seen } = await sysctlsSeenInPod(env.cri, HANDLER, `${env.dir}/logs/s`);
    assert.equal(seen, "1\n100\n0\n");
    await removePod(env.cri, podId);
    await hostSysctlRefused(env.cri, HANDLER, `${env.dir}/logs/h`, { dirs: [env.sandboxerDir], fdPids: [env.sandboxer.pid] });
  });

  it("containerd 2.x, gvisor: a pod with sysctls gVisor's kernel cannot take is refused naming them, and leaves nothing", async (t) => {
    const env = await containerd2WithKuasar(t, ["gvisor"]);
    // Without sysctls the same pod runs (and containerd's connection to the sandboxer is made before the census).
    const { podId } = await runPod(env.cri, GVISOR_HANDLER, podConfig("gplain", `${env.dir}/logs/p`), [shContainer("c", "sleep 100000")]);
    await removePod(env.cri, podId);
    const scope = { dirs: [env.sandboxerDir], fdPids: [env.sandboxer.pid], cgroupRoots: [] };
    const before = takeCensus(scope);
    const cfg = podConfig("gsysctls", `${env.dir}/logs/g`);
    cfg.linux = { ...cfg.linux, sysctls: SYSCTLS };
    await assert.rejects(env.cri.runtime.runPodSandbox({ config: cfg, runtimeHandler: GVISOR_HANDLER }, { timeoutMs: 120_000 }), (err: Error & { code: Code }) => {
      assert.equal(err.code, Code.InvalidArgument, err.message);
      assert.match(err.message, /the gvisor sandboxer cannot set "fs\.mqueue\.msg_max", "kernel\.shm_rmid_forced", "net\.ipv4\.ip_unprivileged_port_start"/);
      return true;
    });
    assert.deepEqual(censusDiff(before, takeCensus(scope)), {});
    // The host-level check comes first, as for every kind.
    await hostSysctlRefused(env.cri, GVISOR_HANDLER, `${env.dir}/logs/h`, { dirs: [env.sandboxerDir], fdPids: [env.sandboxer.pid] });
  });

  it("containerd 2.x, vmm: a VM pod's namespaced sysctls are seen inside it (set in its guest), a host-level one is refused and leaves nothing", async (t) => {
    const env = await containerd2WithKuasar(t, ["vmm"], VMM_TEST_CONFIG);
    const { podId, seen } = await sysctlsSeenInPod(env.cri, VMM_HANDLER, `${env.dir}/logs/s`);
    assert.equal(seen, "1\n100\n0\n");
    await removePod(env.cri, podId);
    await hostSysctlRefused(env.cri, VMM_HANDLER, `${env.dir}/logs/h`, { dirs: [env.sandboxerDir], fdPids: [env.sandboxer.pid] });
  });

  it("containerd 1.7 bridge, runc: the sysctls of the pause spec are seen inside the pod, a host-level one is refused and leaves nothing", async (t) => {
    const env = await containerd17WithKuasar(t);
    const { podId, seen } = await sysctlsSeenInPod(env.cri, handler17Of("runc"), `${env.dir}/logs/s`);
    assert.equal(seen, "1\n100\n0\n");
    await removePod(env.cri, podId);
    await hostSysctlRefused(env.cri, handler17Of("runc"), `${env.dir}/logs/h`, { dirs: [join(env.dir, "kr")], fdPids: [env.kuasard.pid] });
  });

  it("containerd 1.7 bridge, vmm and gvisor: a VM pod's sysctls are seen inside it; a gvisor pod with sysctls is refused naming them, as on 2.x", async (t) => {
    const env = await containerd17WithKuasar(t, ["runc", "vmm", "gvisor"], VMM_TEST_CONFIG);
    const { podId, seen } = await sysctlsSeenInPod(env.cri, handler17Of("vmm"), `${env.dir}/logs/s`);
    assert.equal(seen, "1\n100\n0\n");
    await removePod(env.cri, podId);

    const cfg = podConfig("gsysctls", `${env.dir}/logs/g`);
    cfg.linux = { ...cfg.linux, sysctls: SYSCTLS };
    await assert.rejects(env.cri.runtime.runPodSandbox({ config: cfg, runtimeHandler: handler17Of("gvisor") }, { timeoutMs: 120_000 }), (err: Error & { code: Code }) => {
      // The pause spec's net.ipv4.ip_unprivileged_port_start=0 is also containerd's own default, left out for gvisor (README): not named.
      assert.match(err.message, /the gvisor sandboxer cannot set "fs\.mqueue\.msg_max", "kernel\.shm_rmid_forced": /);
      assert.match(err.message, /invalid argument/);
      return true;
    });
    assert.deepEqual((await env.cri.runtime.listPodSandbox({})).items.filter((p) => p.metadata?.name === "gsysctls"), []);
  });

  it("containerd 2.x, runc: CloseIO of a process that exited is a no-op (Task API), of an unknown one NotFound", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc"]);
    const cfg = podConfig("closeio", `${env.dir}/logs/c`);
    const { podId, ids } = await runPod(env.cri, HANDLER, cfg, [shContainer("c", "sleep 100000")]);
    const cid = ids[0]!;
    const sandboxApi = new GrpcClient(env.listen, { namespace: "k8s.io" });
    t.after(() => sandboxApi.close());
    const { address } = await sandboxApi.service(Controller).status({ sandboxId: podId });
    const task = await TtrpcClient.connect(address.replace(/^ttrpc\+/, ""), { timeoutMs: 5000 });
    t.after(() => task.close());
    const opts = { metadata: new Map([["containerd-namespace", ["k8s.io"]]]), timeoutMs: 20_000 };
    const call = <D extends DescMessage>(method: string, schema: D, init: MessageInitShape<D>) => task.call(TASK_V3, method, toBinary(schema, create(schema, init)), opts);
    // An exec with a stdin FIFO nobody writes to, driven as containerd does, that exits at once.
    const stdin = join(env.dir, "exec-stdin");
    assert.equal(spawnSync("mkfifo", [stdin]).status, 0);
    const process = { args: ["sh", "-c", "exit 7"], cwd: "/", env: ["PATH=/bin:/usr/bin"], user: { uid: 0, gid: 0 }, terminal: false };
    const spec = { typeUrl: OCI_PROCESS_URL, value: Buffer.from(JSON.stringify(process)) };
    await call("Exec", ExecProcessRequestSchema, { id: cid, execId: "e1", stdin, spec });
    await call("Start", StartRequestSchema, { id: cid, execId: "e1" });
    const waited = fromBinary(WaitResponseSchema, await call("Wait", WaitRequestSchema, { id: cid, execId: "e1" }));
    assert.equal(waited.exitStatus, 7);
    await call("CloseIO", CloseIORequestSchema, { id: cid, execId: "e1", stdin: true });
    await call("CloseIO", CloseIORequestSchema, { id: cid, execId: "e1", stdin: true });
    await call("Delete", DeleteRequestSchema, { id: cid, execId: "e1" });
    // Gone processes and unknown containers are still NotFound: only an exited process is let off.
    await assert.rejects(call("CloseIO", CloseIORequestSchema, { id: cid, execId: "e1", stdin: true }), { code: Code.NotFound });
    await assert.rejects(call("CloseIO", CloseIORequestSchema, { id: "nope", stdin: true }), { code: Code.NotFound });
    await removePod(env.cri, podId);
  });

  it("Sandbox API Status returns the labels of Create and of Update; a host-level sysctl is refused at Create with nothing made", async (t) => {
    const { sandboxer: sb, api, stateDir } = await loneRuncSandboxer(t, { prefix: "kl-" });
    const labelsOf = async (id: string) => JSON.parse((await api.status({ sandboxId: id })).info[LABELS_INFO_KEY] ?? "{}") as Record<string, string>;

    await api.create({ sandboxId: "l1", sandbox: { sandboxId: "l1", labels: { app: "web", tier: "front" } } });
    assert.deepEqual(await labelsOf("l1"), { app: "web", tier: "front" });
    const started = await api.start({ sandboxId: "l1" });
    assert.deepEqual(started.labels, { app: "web", tier: "front" });
    await api.update({ sandboxId: "l1", sandbox: { sandboxId: "l1", labels: { app: "web", tier: "back" } }, fields: ["labels"] });
    assert.deepEqual(await labelsOf("l1"), { app: "web", tier: "back" });
    await api.stop({ sandboxId: "l1" });
    await api.shutdown({ sandboxId: "l1" });

    const before = takeCensus({ dirs: [stateDir], fdPids: [sb.pid], cgroupRoots: [] });
    const cfg = create(PodSandboxConfigSchema, { hostname: "h", linux: { sysctls: { "kernel.pid_max": "4096", "net.core.somaxconn": "1" } } });
    const options = { typeUrl: "type.googleapis.com/runtime.v1.PodSandboxConfig", value: toBinary(PodSandboxConfigSchema, cfg) };
    // No netns: a host-network pod, so its net.* sysctl is refused too.
    await assert.rejects(api.create({ sandboxId: "l2", options }), (err: Error & { code: Code }) => {
      assert.equal(err.code, Code.InvalidArgument);
      assert.match(err.message, /"kernel\.pid_max" is not namespaced/);
      assert.match(err.message, /"net\.core\.somaxconn" is a network sysctl and the pod uses the host network/);
      return true;
    });
    assert.deepEqual(censusDiff(before, takeCensus({ dirs: [stateDir], fdPids: [sb.pid], cgroupRoots: [] })), {});
    await assert.rejects(api.status({ sandboxId: "l2" }), { code: Code.NotFound });
  });
});
