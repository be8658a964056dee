import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { create } from "@bufbuild/protobuf";
import { createPodCgroup, mountedHierarchies, podMemoryLimit } from "../../src/cgroup/pod-cgroup.js";
import { parseProcCgroup } from "../../src/cgroup/cgroup-stats.js";
import { Code } from "../../src/errors/code.js";
import { Controller } from "../../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";
import { SandboxSchema } from "../../src/gen/containerd/types/sandbox_pb.js";
import { ContainerState, LinuxContainerResourcesSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { GrpcClient } from "../../src/grpc/client.js";
import { TASKS_EXTENSION_INFO_KEY } from "../../src/pod/sandbox-records.js";
import { OCI_SPEC_URL } from "../../src/sandbox/sandbox-update.js";
import { podConfig, runPod, shContainer } from "../../testing/cri-pod.js";
import type { CriClient } from "../../testing/cri.js";
import type { Containerd } from "../../testing/containerd.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd17WithKuasar, handler17Of } from "../../testing/kuasar-containerd17.js";
import { containerd2WithKuasar, HANDLER, VMM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { VMM_TEST_CONFIG } from "../../testing/vm-pod.js";
import { VM_HOST_OVERHEAD_MB } from "../../src/sandboxers/vmm/vm-host-resources.js";
import { ctrEvents } from "../../testing/ctr-events.js";
import { censusDiff, takeCensus } from "../../testing/leak-census.js";

assertIsolated();

const MiB = 1 << 20;

/**
 * A pod cgroup parent of this test only (as kubelet makes `/kubepods/.../pod<uid>`),
 * in every hierarchy; removed after the test. The census walks only below it.
 */
function testCgroupParent(t: TestContext): { parent: string; roots: string[] } {
  const parent = `/kuasar-e2e-${randomBytes(6).toString("hex")}`;
  createPodCgroup(parent);
  const roots = mountedHierarchies().map((h) => join(h.mount, parent));
  t.after(() => {
    for (const r of roots) {
      for (const d of existsSync(r) ? readdirSync(r, { withFileTypes: true }).filter((e) => e.isDirectory()) : []) rmdirQuietly(join(r, d.name));
      rmdirQuietly(r);
    }
  });
  return { parent, roots };
}

function rmdirQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    /* gone, or the test failed with something in it: reported by the census */
  }
}

/** CPU quota and period of a pod cgroup as "quota period" (v1 cpu controller, else v2 cpu.max). */
function cpuQuota(path: string): string {
  const v1 = mountedHierarchies().find((h) => h.version === 1 && h.controllers.includes("cpu"));
  if (v1) return ["cpu.cfs_quota_us", "cpu.cfs_period_us"].map((f) => readFileSync(join(v1.mount, path, f), "utf8").trim()).join(" ");
  const v2 = mountedHierarchies().find((h) => h.version === 2)!;
  return readFileSync(join(v2.mount, path, "cpu.max"), "utf8").trim();
}

/** Memory charged to a pod cgroup (v1 memory controller, else v2). */
function hostMemoryUsage(path: string): string {
  const v1 = mountedHierarchies().find((h) => h.version === 1 && h.controllers.includes("memory"));
  const file = v1 ? join(v1.mount, path, "memory.usage_in_bytes") : join(mountedHierarchies().find((h) => h.version === 2)!.mount, path, "memory.current");
  return readFileSync(file, "utf8").trim();
}

const cgroupPathsOf = (pid: number): string[] => parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, "utf8")).map((m) => m.path);
const ppidOf = (pid: number): number => Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
const infoPid = (info: Record<string, string>): number => (JSON.parse(info["info"] ?? "{}") as { pid?: number }).pid ?? 0;

/**
 * Runs a pod under `parent` with a container that keeps running while a child
 * of it allocates past its 16 MiB limit; checks that the holder, the pod init
 * and the container's processes are all under `parent` (the pod's own two in
 * `<parent>/<pod id>`), and that /tasks/oom comes while the container runs.
 */
async function podUnderParent(cri: CriClient, containerd: Containerd, handler: string, parent: string, logDir: string, t: TestContext): Promise<{ podId: string; cid: string }> {
  const events = await ctrEvents(t, containerd);
  const cfg = podConfig("cg", logDir);
  cfg.linux = { ...cfg.linux, cgroupParent: parent };
  const hog = shContainer("hog", "sleep 1; (tail /dev/zero); echo survived; sleep 100000");
  hog.linux = { ...hog.linux, resources: create(LinuxContainerResourcesSchema, { memoryLimitInBytes: BigInt(16 * MiB) }) };
  const { podId, ids } = await runPod(cri, handler, cfg, [hog]);
  const cid = ids[0]!;

  // With a sandbox controller CRI passes on our Status info (holder_pid, pod_pid); the 1.7 bridge's is the pause task's pid.
  const podInfo = (await cri.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true })).info;
  const podInit = podInfo["pod_pid"] ? Number(podInfo["pod_pid"]) : infoPid(podInfo);
  const holder = podInfo["holder_pid"] ? Number(podInfo["holder_pid"]) : ppidOf(podInit);
  assert.notEqual(holder, podInit, "the pod has its own pid namespace: a pod init besides the holder");
  assert.equal(readFileSync(`/proc/${holder}/comm`, "utf8").trim(), "kuasar-holder");
  for (const pid of [holder, podInit]) {
    const paths = cgroupPathsOf(pid);
    assert.ok(paths.length > 0);
    for (const p of paths) assert.equal(p, `${parent}/${podId}`, `pid ${pid} (holder ${holder}, pod init ${podInit}) in ${p}`);
  }
  const main = infoPid((await cri.runtime.containerStatus({ containerId: cid, verbose: true })).info);
  for (const p of cgroupPathsOf(main)) assert.ok(p.startsWith(`${parent}/`), `container process ${main} in ${p}, not under ${parent}`);

  // The OOM kill of the child is reported as it happens; the container's main process lives on.
  const oom = await events.waitFor(new RegExp(`/tasks/oom.*${cid}`), 60_000);
  assert.match(oom, /container_id/);
  const { status } = await cri.runtime.containerStatus({ containerId: cid });
  assert.equal(status?.state, ContainerState.CONTAINER_RUNNING);
  assert.equal(events.lines.filter((l) => l.includes("/tasks/exit") && l.includes(cid)).length, 0);
  await events.stop();
  return { podId, cid };
}

async function removePod(cri: CriClient, podId: string): Promise<void> {
  await cri.runtime.stopPodSandbox({ podSandboxId: podId });
  await cri.runtime.removePodSandbox({ podSandboxId: podId });
}

/** The census diff once the daemon saw a closed connection go (a moment after close), else the diff as it is. */
async function settledCensus(before: ReturnType<typeof takeCensus>, scope: Parameters<typeof takeCensus>[0]): Promise<void> {
  let diff = censusDiff(before, takeCensus(scope));
  for (let i = 0; i < 40 && Object.keys(diff).length > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    diff = censusDiff(before, takeCensus(scope));
  }
  assert.deepEqual(diff, {});
}

/** A first pod run and removed before the census: what stays for every pod (runc's root, containerd's connection) is not this test's. */
async function warmUp(cri: CriClient, handler: string, logDir: string): Promise<void> {
  const { podId } = await runPod(cri, handler, podConfig("warm", logDir), [shContainer("c", "sleep 100000")]);
  await removePod(cri, podId);
}

describe("pod cgroup (cgroup_parent), pod resources by Update, OOM events while running", () => {
  it("containerd 2.x, runc: every pod process under cgroup_parent, /tasks/oom while the pod runs, Update sets the pod cgroup's limit, all removed", async (t) => {
    const { parent, roots } = testCgroupParent(t);
    const env = await containerd2WithKuasar(t, ["runc"]);
    await warmUp(env.cri, HANDLER, `${env.dir}/logs/w`);
    const scope = { dirs: [env.sandboxerDir], fdPids: [env.sandboxer.pid], cgroupRoots: roots };
    const before = takeCensus(scope);
    const { podId } = await podUnderParent(env.cri, env.containerd, HANDLER, parent, `${env.dir}/logs/cg`, t);

    const client = new GrpcClient(env.listen, { namespace: "k8s.io" });
    t.after(() => client.close());
    const api = client.service(Controller);
    const spec = { typeUrl: OCI_SPEC_URL, value: Buffer.from(JSON.stringify({ linux: { resources: { memory: { limit: 48 * MiB } } } })) };
    await api.update({ sandboxId: podId, sandbox: create(SandboxSchema, { sandboxId: podId, spec }), fields: ["spec"] });
    assert.equal(podMemoryLimit(`${parent}/${podId}`), 48 * MiB);
    // Kuasar's extensions.tasks is kept and reported; a field nothing applies is refused, and changes nothing.
    const tasks = { tasks: [{ task_id: "c1", resources: { memory_limit_in_bytes: 1024 } }] };
    const ext = { typeUrl: "github.com/containerd/containerd.TaskResources", value: Buffer.from(JSON.stringify(tasks)) };
    await api.update({ sandboxId: podId, sandbox: create(SandboxSchema, { sandboxId: podId, extensions: { tasks: ext } }), fields: ["extensions.tasks"] });
    assert.deepEqual(JSON.parse((await api.status({ sandboxId: podId })).info[TASKS_EXTENSION_INFO_KEY] ?? "null"), tasks);
    await assert.rejects(api.update({ sandboxId: podId, sandbox: create(SandboxSchema, { sandboxId: podId, spec }), fields: ["runtime"] }), { code: Code.Unimplemented });

    await removePod(env.cri, podId);
    client.close(); // its connection is no pod's
    await settledCensus(before, scope);
    for (const r of roots) assert.deepEqual(readdirSync(r, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name), [], `left in ${r}`);
  });

  it("containerd 2.x, vmm: QEMU and virtiofsd in the pod cgroup sized for the VM, /tasks/oom from the guest while the pod runs, Update sets CPU and refuses a RAM change, all removed", async (t) => {
    const { parent, roots } = testCgroupParent(t);
    const env = await containerd2WithKuasar(t, ["vmm"], VMM_TEST_CONFIG);
    const events = await ctrEvents(t, env.containerd);
    const scope = { cgroupRoots: roots };
    const before = takeCensus(scope);
    const cfg = podConfig("vmcg", `${env.dir}/logs/vmcg`);
    cfg.linux = { ...cfg.linux, cgroupParent: parent, resources: create(LinuxContainerResourcesSchema, { memoryLimitInBytes: BigInt(64 * MiB) }) };
    const hog = shContainer("hog", "sleep 1; (tail /dev/zero); echo survived; sleep 100000");
    hog.linux = { ...hog.linux, resources: create(LinuxContainerResourcesSchema, { memoryLimitInBytes: BigInt(16 * MiB) }) };
    const { podId, ids } = await runPod(env.cri, VMM_HANDLER, cfg, [hog]);
    const cid = ids[0]!;

    const info = (await env.cri.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true })).info;
    const qemu = Number(info["qemu_pid"]);
    const virtiofsd = Number(info["virtiofsd_pid"]);
    assert.ok(qemu > 0 && virtiofsd > 0, JSON.stringify(info));
    for (const pid of [qemu, virtiofsd]) {
      const paths = cgroupPathsOf(pid);
      assert.ok(paths.length > 0);
      for (const p of paths) assert.equal(p, `${parent}/${podId}`, `pid ${pid} (qemu ${qemu}, virtiofsd ${virtiofsd}) in ${p}`);
    }
    // The VM has 192 + 64 MiB of RAM; the host limit covers it and QEMU's own needs.
    assert.equal(podMemoryLimit(`${parent}/${podId}`), (192 + 64 + VM_HOST_OVERHEAD_MB) * MiB);

    // A child of the container is OOM-killed in the guest: /tasks/oom while the container (and the pod) runs.
    await events.waitFor(new RegExp(`/tasks/oom.*${cid}`), 180_000);
    assert.equal((await env.cri.runtime.containerStatus({ containerId: cid })).status?.state, ContainerState.CONTAINER_RUNNING);
    assert.equal(events.lines.filter((l) => l.includes("/tasks/exit") && l.includes(cid)).length, 0);
    t.diagnostic(`host memory of the VM pod (guest RAM 256 MiB): ${hostMemoryUsage(`${parent}/${podId}`)} bytes`);

    const client = new GrpcClient(env.listen, { namespace: "k8s.io" });
    t.after(() => client.close());
    const api = client.service(Controller);
    const update = (resources: object) =>
      api.update({ sandboxId: podId, sandbox: create(SandboxSchema, { sandboxId: podId, spec: { typeUrl: OCI_SPEC_URL, value: Buffer.from(JSON.stringify({ linux: { resources } })) } }), fields: ["spec"] });
    await update({ cpu: { quota: 50_000, period: 100_000 } });
    assert.equal(cpuQuota(`${parent}/${podId}`), "50000 100000");
    // The guest's RAM is fixed at boot: another memory limit is refused and changes nothing.
    await assert.rejects(update({ memory: { limit: 128 * MiB } }), (err: Error & { code: Code }) => {
      assert.equal(err.code, Code.FailedPrecondition, err.message);
      assert.match(err.message, /fixed at boot/);
      return true;
    });
    assert.equal(podMemoryLimit(`${parent}/${podId}`), (192 + 64 + VM_HOST_OVERHEAD_MB) * MiB);

    await removePod(env.cri, podId);
    assert.deepEqual(censusDiff(before, takeCensus(scope)), {});
    for (const r of roots) assert.deepEqual(readdirSync(r, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name), [], `left in ${r}`);
  });

  it("containerd 2.x, runc: resources for a pod without cgroup_parent are refused (FailedPrecondition, saying why)", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc"]);
    const { podId } = await runPod(env.cri, HANDLER, podConfig("nocg", `${env.dir}/logs/n`), []);
    const client = new GrpcClient(env.listen, { namespace: "k8s.io" });
    t.after(() => client.close());
    const api = client.service(Controller);
    const spec = { typeUrl: OCI_SPEC_URL, value: Buffer.from(JSON.stringify({ linux: { resources: { memory: { limit: 48 * MiB } } } })) };
    await assert.rejects(api.update({ sandboxId: podId, sandbox: create(SandboxSchema, { sandboxId: podId, spec }), fields: ["spec"] }), (err: Error & { code: Code }) => {
      assert.equal(err.code, Code.FailedPrecondition, err.message);
      assert.match(err.message, /no pod cgroup/);
      return true;
    });
    await removePod(env.cri, podId);
  });

  it("containerd 1.7 bridge, runc: the pause spec's cgroup parent holds every pod process, /tasks/oom while the pod runs, all removed", async (t) => {
    const { parent, roots } = testCgroupParent(t);
    const env = await containerd17WithKuasar(t);
    await warmUp(env.cri, handler17Of("runc"), `${env.dir}/logs/w`);
    const scope = { dirs: [join(env.dir, "kr")], fdPids: [env.kuasard.pid], cgroupRoots: roots };
    const before = takeCensus(scope);
    const { podId } = await podUnderParent(env.cri, env.containerd, handler17Of("runc"), parent, `${env.dir}/logs/cg`, t);
    await removePod(env.cri, podId);
    assert.deepEqual(censusDiff(before, takeCensus(scope)), {});
    for (const r of roots) assert.deepEqual(readdirSync(r, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name), [], `left in ${r}`);
  });
});
