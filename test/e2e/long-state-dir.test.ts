import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ContainerState, PodSandboxState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { SHORT_SOCKET_DIR } from "../../src/fs/long-socket-path.js";
import { isAlive } from "../../src/pod/pod.js";
import { decodeOut, logFile, podConfig, runPod, shContainer, waitExited, waitForLog } from "../../testing/cri-pod.js";
import { repoRoot } from "../../testing/deps.js";
import { assertIsolated } from "../../testing/isolation.js";
import { afterRedial, containerd2WithKuasar, HANDLER, VMM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { censusDiff, takeCensus } from "../../testing/leak-census.js";
import { VMM_TEST_CONFIG } from "../../testing/vm-pod.js";

assertIsolated();

/** A --dir of 200+ bytes: every socket below it (holder.sock, task.sock, console, QMP...) would pass sun_path's 107 bytes by its plain name. */
const longStateDir = (leaf: string) => (dir: string) => join(dir, "var-lib", "a".repeat(60), "b".repeat(60), "c".repeat(60), leaf);

/** The holder pid a pod's record keeps (the daemon must reconnect to this very process). */
function holderPidOf(stateDir: string, podId: string): number {
  const records = join(stateDir, "sandboxes");
  const f = readdirSync(records).find((n) => n.startsWith(podId));
  assert.ok(f, `record of ${podId} in ${records}`);
  return (JSON.parse(readFileSync(join(records, f), "utf8")) as { holderPid: number }).holderPid;
}

/**
 * Nothing left behind. Cgroups are counted only for this test's own pod and containers:
 * the host's hierarchies are shared with whatever else runs on the machine.
 */
function assertNothingLeft(stateDir: string, ownIds: readonly string[], diff: ReturnType<typeof censusDiff>): void {
  const { cgroups, entries, ...rest } = diff;
  // runc's state root is made at the first container and kept for the daemon's life.
  const leftEntries = (entries ?? []).filter((e) => e !== join(stateDir, "runc"));
  const leftCgroups = (cgroups ?? []).filter((c) => ownIds.some((id) => c.includes(id)));
  assert.deepEqual({ ...rest, ...(leftEntries.length > 0 ? { entries: leftEntries } : {}), ...(leftCgroups.length > 0 ? { cgroups: leftCgroups } : {}) }, {}, "nothing left behind");
}

describe("a --dir longer than a unix socket path (stock containerd 2.x)", () => {
  it("runc: pod, terminal container, exec, kill -9 of the sandboxer, restart reconnecting to the pod's holder, stop/remove, nothing left", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc"], "", { stateDirPath: longStateDir("runc-sandboxer") });
    const { cri } = env;
    assert.ok(Buffer.byteLength(env.sandboxerDir) >= 200, `--dir is ${Buffer.byteLength(env.sandboxerDir)} bytes`);
    const scope = { dirs: [env.sandboxerDir, SHORT_SOCKET_DIR], fdPids: [env.endpointPid] };
    const before = takeCensus(scope);

    const cfg = podConfig("long", `${env.dir}/logs/long`);
    const plain = shContainer("plain", "trap 'exit 0' TERM; while true; do sleep 0.1; done");
    // A terminal: runc dials the console socket the holder listens on, by name.
    const term = { ...shContainer("term", "tty; trap 'exit 0' TERM; while true; do sleep 0.1; done"), tty: true, stdin: true };
    const { podId, ids } = await runPod(cri, HANDLER, cfg, [plain, term]);
    const [plainId, termId] = ids as [string, string];
    assert.equal(podId.length, 64);
    const holderSock = join(env.sandboxerDir, "pods", podId, "holder.sock");
    assert.ok(Buffer.byteLength(holderSock) > 107 && statSync(holderSock).isSocket(), "holder.sock sits in the pod dir, past sun_path's length");
    assert.match(await waitForLog(logFile(cfg, term), "/dev/pts/"), /\/dev\/pts\/\d+/);
    const ex = await cri.runtime.execSync({ containerId: plainId, cmd: ["echo", "before"], timeout: 10n });
    assert.equal(decodeOut(ex.stdout), "before\n");

    const holderPid = holderPidOf(env.sandboxerDir, podId);
    assert.ok(isAlive(holderPid));
    await env.sandboxer.kill9();
    await env.restartSandboxer();
    const st = await afterRedial(() => cri.runtime.podSandboxStatus({ podSandboxId: podId }));
    assert.equal(st.status?.state, PodSandboxState.SANDBOX_READY, "the pod is Ready: the restarted daemon reached its holder");
    assert.equal(holderPidOf(env.sandboxerDir, podId), holderPid, "the same holder, not a new one");
    assert.match(env.sandboxer.logs(), /sandboxer recovered/);
    for (const id of ids) assert.equal((await cri.runtime.containerStatus({ containerId: id })).status?.state, ContainerState.CONTAINER_RUNNING);
    const after = await cri.runtime.execSync({ containerId: plainId, cmd: ["echo", "after"], timeout: 10n });
    assert.equal(decodeOut(after.stdout), "after\n");

    await cri.runtime.stopContainer({ containerId: termId, timeout: 10n });
    assert.equal((await waitExited(cri, termId)).exitCode, 0);
    await cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await cri.runtime.removePodSandbox({ podSandboxId: podId });
    assert.equal(isAlive(holderPid), false);
    assertNothingLeft(env.sandboxerDir, [podId, ...ids], censusDiff(before, takeCensus(scope)));
  });

  it("vmm: a VM pod (QMP, agent and virtio-fs sockets) under a 200-byte --dir, across a daemon kill -9", async (t) => {
    const env = await containerd2WithKuasar(t, ["vmm"], VMM_TEST_CONFIG, { stateDirPath: longStateDir("vmm-sandboxer") });
    const { cri } = env;
    assert.ok(Buffer.byteLength(env.sandboxerDir) >= 200);
    const scope = { dirs: [env.sandboxerDir, SHORT_SOCKET_DIR], fdPids: [env.endpointPid] };
    const before = takeCensus(scope);

    const cfg = podConfig("vm", `${env.dir}/logs/vm`);
    const { podId, ids } = await runPod(cri, VMM_HANDLER, cfg, [shContainer("c", "echo up; trap 'exit 0' TERM; while true; do sleep 0.1; done")]);
    await waitForLog(logFile(cfg, shContainer("c", "")), "up");
    const ex = await cri.runtime.execSync({ containerId: ids[0]!, cmd: ["echo", "in-vm"], timeout: 60n });
    assert.equal(decodeOut(ex.stdout), "in-vm\n");
    const ctl = () => execFileSync(join(repoRoot(), "bin", "kuasar-ctl"), ["exec", "--state-dir", join(env.dir, "ks"), podId, "--", "echo", "ctl"], { encoding: "utf8" });
    assert.equal(ctl(), "ctl\n");

    await env.sandboxer.kill9();
    await env.restartSandboxer();
    const st = await afterRedial(() => cri.runtime.podSandboxStatus({ podSandboxId: podId }));
    assert.equal(st.status?.state, PodSandboxState.SANDBOX_READY, "the restarted daemon reached the VM's agent and QMP again");
    assert.equal(ctl(), "ctl\n");
    const again = await cri.runtime.execSync({ containerId: ids[0]!, cmd: ["echo", "again"], timeout: 60n });
    assert.equal(decodeOut(again.stdout), "again\n");

    await cri.runtime.stopPodSandbox({ podSandboxId: podId }, { timeoutMs: 120_000 });
    await cri.runtime.removePodSandbox({ podSandboxId: podId });
    assertNothingLeft(env.sandboxerDir, [podId, ...ids], censusDiff(before, takeCensus(scope)));
  });
});
