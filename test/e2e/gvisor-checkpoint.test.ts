import assert from "node:assert/strict";
import { readdirSync, rmSync } from "node:fs";
import { describe, it } from "node:test";
import { BUSYBOX_IMAGE } from "../../testing/busybox-image.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd17WithKuasar } from "../../testing/kuasar-containerd17.js";
import { containerd2WithKuasar, GVISOR_HANDLER } from "../../testing/kuasar-containerd2.js";
import { decodeOut, podConfig, runPod, shContainer } from "../../testing/cri-pod.js";
import { ContainerState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";

assertIsolated();

const onGvisor = ["--runtime", "io.containerd.kuasar.v1", "--annotation", "io.kuasar.sandboxer=gvisor"];
/** A shell counter whose state lives only in the process (its variable) and in gVisor's tmpfs. */
const COUNTER = "i=0; while true; do i=$((i+1)); echo $i > /dev/shm/count; sleep 0.1; done";

/** containerd unpacks a restored checkpoint under $TMPDIR/ctrd-checkpoint* and never removes it. */
function ctrdCheckpointDirs(): string[] {
  return readdirSync("/tmp").filter((n) => n.startsWith("ctrd-checkpoint"));
}

describe("gvisor checkpoint and restore through the Task API (containerd 1.7 shim bridge, ctr)", () => {
  it("a running counter is checkpointed (left running) and restored into a new task that counts on", async (t) => {
    const before = new Set(ctrdCheckpointDirs());
    t.after(() => {
      for (const d of ctrdCheckpointDirs()) if (!before.has(d)) rmSync(`/tmp/${d}`, { recursive: true, force: true });
    });
    const env = await containerd17WithKuasar(t, ["runc", "gvisor"]);
    const c = env.containerd;
    const count = async (id: string): Promise<number> => Number((await c.ctr(["task", "exec", "--exec-id", `read-${Date.now()}`, id, "cat", "/dev/shm/count"])).stdout.trim());

    await c.ctr(["run", "-d", "--null-io", ...onGvisor, BUSYBOX_IMAGE, "cnt", "sh", "-c", COUNTER]);
    // 50 ticks take 5 s: a counter that started over would need as long to get back there.
    let n = 0;
    for (let i = 0; i < 300 && n < 50; i++) {
      n = await count("cnt").catch(() => 0);
      if (n < 50) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(n >= 50, `the counter runs (${n})`);
    // Without a pod, its own network namespace (ctr's default) is gVisor's stack with loopback only (runsc --network=none).
    const devs = (await c.ctr(["task", "exec", "--exec-id", "netdev", "cnt", "cat", "/proc/net/dev"])).stdout;
    assert.deepEqual(devs.split("\n").slice(2).filter(Boolean).map((l) => l.trim().split(":")[0]), ["lo"], devs);

    // ctr's container checkpoint: the task is saved and runs on (no exit asked for).
    await c.ctr(["container", "checkpoint", "--task", "--image", "cnt", "checkpoint/cnt:1"]);
    assert.match((await c.ctr(["image", "ls", "-q"])).stdout, /checkpoint\/cnt:1/);
    const saved = await count("cnt");
    assert.ok(saved >= n, `counted ${saved} when checkpointed`);
    assert.match((await c.ctr(["task", "ls"])).stdout, /cnt\s+\d+\s+RUNNING/, "the checkpointed task runs on");
    await c.ctr(["task", "kill", "-s", "KILL", "cnt"]);
    for (let i = 0; i < 100 && !(await c.ctr(["task", "ls"])).stdout.match(/cnt\s+\d+\s+STOPPED/); i++) await new Promise((r) => setTimeout(r, 50));
    await c.ctr(["task", "delete", "cnt"]);
    await c.ctr(["container", "delete", "cnt"]);

    // A new container from the checkpoint, its task created with it (--live): it counts on from the saved state.
    await c.ctr(["container", "restore", "--live", "cnt2", "checkpoint/cnt:1"]);
    assert.match((await c.ctr(["task", "ls"])).stdout, /cnt2\s+\d+\s+RUNNING/);
    const first = await count("cnt2");
    assert.ok(first >= n, `restored at ${first}, counted ${n} before the checkpoint: the process did not start over`);
    await new Promise((r) => setTimeout(r, 1000));
    const later = await count("cnt2");
    assert.ok(later > first, `the restored counter runs on (${first} -> ${later})`);
    assert.match(env.kuasard.logs(), /"msg":"gVisor sandbox replaced to restore a checkpoint"/);
    t.diagnostic(`counted ${n} before, ${saved} after the checkpoint; the restored task read ${first}, then ${later} a second later`);

    await c.ctr(["task", "kill", "-s", "KILL", "cnt2"]);
    for (let i = 0; i < 100 && !(await c.ctr(["task", "ls"])).stdout.match(/cnt2\s+\d+\s+STOPPED/); i++) await new Promise((r) => setTimeout(r, 50));
    await c.ctr(["task", "delete", "cnt2"]);
    await c.ctr(["container", "delete", "cnt2"]);

    // Another kind says why it cannot.
    await c.ctr(["run", "-d", "--null-io", "--runtime", "io.containerd.kuasar.v1", BUSYBOX_IMAGE, "onrunc", "sleep", "100000"]);
    const refused = await c.ctr(["container", "checkpoint", "--task", "onrunc", "checkpoint/onrunc:1"], { allowFailure: true });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /not supported by the runc sandboxer/);
    await c.ctr(["task", "kill", "-s", "KILL", "onrunc"]);
  });
});

describe("gvisor checkpoint through the direct Task API (containerd 2.x, a CRI pod)", () => {
  it("saves a pod's only container and it runs on; a pod of two containers is refused (gVisor saves the whole sandbox)", async (t) => {
    const before = new Set(ctrdCheckpointDirs());
    t.after(() => {
      for (const d of ctrdCheckpointDirs()) if (!before.has(d)) rmSync(`/tmp/${d}`, { recursive: true, force: true });
    });
    const env = await containerd2WithKuasar(t, ["gvisor"]);
    const cfg = podConfig("cp", `${env.dir}/logs/cp`);
    const { podId, ids } = await runPod(env.cri, GVISOR_HANDLER, cfg, [shContainer("cnt", COUNTER)]);
    const id = ids[0]!;
    const count = async (): Promise<number> => Number(decodeOut((await env.cri.runtime.execSync({ containerId: id, cmd: ["cat", "/dev/shm/count"], timeout: 20n })).stdout).trim() || 0);
    for (let i = 0; i < 100 && (await count()) < 5; i++) await new Promise((r) => setTimeout(r, 100));
    const k8s = { namespace: "k8s.io" } as const;
    // ctr's task checkpoint: the task is paused, saved, resumed (a second checkpoint of the same
    // container would trip on ctr's own content store: its unchanged rw layer's diff already exists).
    const image = (await env.containerd.ctr(["task", "checkpoint", id], k8s)).stdout.trim();
    assert.match(image, /checkpoint/);
    assert.match((await env.containerd.ctr(["image", "ls", "-q"], k8s)).stdout, new RegExp(image.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
    assert.equal((await env.cri.runtime.containerStatus({ containerId: id })).status?.state, ContainerState.CONTAINER_RUNNING, "resumed");
    const after = await count();
    await new Promise((r) => setTimeout(r, 500));
    assert.ok((await count()) > after, "the saved container counts on");

    const second = await env.cri.runtime.createContainer({ podSandboxId: podId, config: shContainer("other", "sleep 100000"), sandboxConfig: cfg }, { timeoutMs: 120_000 });
    await env.cri.runtime.startContainer({ containerId: second.containerId }, { timeoutMs: 120_000 });
    const refused = await env.containerd.ctr(["container", "checkpoint", "--task", id, "checkpoint/cnt:2"], { ...k8s, allowFailure: true });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /gVisor saves its whole sandbox, which also holds .*only a container alone in its pod can be checkpointed/);
    await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: podId });
  });
});
