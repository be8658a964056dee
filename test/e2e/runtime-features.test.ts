import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MountPropagation } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { unmount } from "../../src/fs/mounts.js";
import { decodeOut, podConfig, runPod, shContainer } from "../../testing/cri-pod.js";
import type { CriClient } from "../../testing/cri.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2WithKuasar, GVISOR_HANDLER, HANDLER, VMM_HANDLER, WASM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { VMM_TEST_CONFIG } from "../../testing/vm-pod.js";

assertIsolated();

/** What containerd's CRI Status says of `handler`'s features (runtime_handlers). */
async function featuresOf(cri: CriClient, handler: string) {
  const st = await cri.runtime.status({ verbose: true });
  const h = st.runtimeHandlers.find((r) => r.name === handler);
  assert.ok(h, `handler ${handler} listed (${st.runtimeHandlers.map((r) => r.name).join(", ")})`);
  return { recursiveReadOnlyMounts: h.features?.recursiveReadOnlyMounts ?? false, userNamespaces: h.features?.userNamespaces ?? false };
}

/** A host dir with a tmpfs mounted at `sub/` inside it; removed (and unmounted) after the test. */
function dirWithSubmount(t: { after(fn: () => Promise<void>): void }): string {
  const dir = mkdtempSync("/tmp/rro-");
  mkdirSync(join(dir, "sub"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "rro-sub", join(dir, "sub")]);
  t.after(async () => {
    await unmount(join(dir, "sub")).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** `sh -c script` in the container: its exit status and output. */
async function sh(cri: CriClient, containerId: string, script: string): Promise<{ code: number; out: string }> {
  const r = await cri.runtime.execSync({ containerId, cmd: ["sh", "-c", script], timeout: 20n });
  return { code: r.exitCode, out: decodeOut(r.stdout) + decodeOut(r.stderr) };
}

describe("runtime handler features on stock containerd 2.x (handlers declared for introspection)", () => {
  it("runc advertises and honours recursive read-only mounts; gvisor and wasm advertise none and containerd refuses them", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc", "gvisor", "wasm"], "", { introspectable: true });
    const logDir = mkdtempSync("/tmp/rro-logs-");
    t.after(() => rmSync(logDir, { recursive: true, force: true }));

    assert.deepEqual(await featuresOf(env.cri, HANDLER), { recursiveReadOnlyMounts: true, userNamespaces: false });
    assert.deepEqual(await featuresOf(env.cri, GVISOR_HANDLER), { recursiveReadOnlyMounts: false, userNamespaces: false });
    assert.deepEqual(await featuresOf(env.cri, WASM_HANDLER), { recursiveReadOnlyMounts: false, userNamespaces: false });

    const host = dirWithSubmount(t);
    const cfg = podConfig("rro", logDir);
    const c = shContainer("c", "sleep 100000");
    c.mounts = [
      { containerPath: "/rro", hostPath: host, readonly: true, recursiveReadOnly: true, propagation: MountPropagation.PROPAGATION_PRIVATE },
      // The control: a plain read-only bind leaves the submount writable, so the check below can fail.
      { containerPath: "/plain", hostPath: host, readonly: true, propagation: MountPropagation.PROPAGATION_PRIVATE },
    ];
    const { podId, ids } = await runPod(env.cri, HANDLER, cfg, [c]);
    const id = ids[0]!;
    const top = await sh(env.cri, id, "touch /rro/top");
    assert.notEqual(top.code, 0, "the mount itself is read-only");
    assert.match(top.out, /Read-only file system/);
    const sub = await sh(env.cri, id, "touch /rro/sub/x");
    assert.notEqual(sub.code, 0, "the submount is read-only too (rro)");
    assert.match(sub.out, /Read-only file system/);
    assert.equal(existsSync(join(host, "sub", "x")), false);
    const plain = await sh(env.cri, id, "touch /plain/sub/y");
    assert.equal(plain.code, 0, `a non-recursive ro bind leaves the submount writable: ${plain.out}`);
    assert.equal(existsSync(join(host, "sub", "y")), true);
    const opts = await sh(env.cri, id, "awk '$5==\"/rro/sub\"{print $6}' /proc/self/mountinfo");
    assert.match(opts.out, /^ro[,\n]/, `the submount's per-mount options: ${opts.out}`);
    await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: podId });

    // gvisor (no `rro` claimed): containerd refuses the container, naming the reason.
    const gcfg = podConfig("rro-gvisor", logDir);
    const { podSandboxId } = await env.cri.runtime.runPodSandbox({ config: gcfg, runtimeHandler: GVISOR_HANDLER }, { timeoutMs: 120_000 });
    const gc = shContainer("c", "sleep 100000");
    gc.mounts = [{ containerPath: "/rro", hostPath: host, readonly: true, recursiveReadOnly: true, propagation: MountPropagation.PROPAGATION_PRIVATE }];
    await assert.rejects(env.cri.runtime.createContainer({ podSandboxId, config: gc, sandboxConfig: gcfg }, { timeoutMs: 120_000 }), /does not support recursive read-only mounts/);
    assert.deepEqual((await env.cri.runtime.listContainers({ filter: { podSandboxId } })).containers, [], "nothing was created");
    await env.cri.runtime.stopPodSandbox({ podSandboxId });
    await env.cri.runtime.removePodSandbox({ podSandboxId });
  });

  it("vmm advertises and honours recursive read-only mounts: through virtio-fs the submount is read-only in the guest's container too", async (t) => {
    const env = await containerd2WithKuasar(t, ["vmm"], VMM_TEST_CONFIG, { introspectable: true });
    const logDir = mkdtempSync("/tmp/rro-logs-");
    t.after(() => rmSync(logDir, { recursive: true, force: true }));
    assert.deepEqual(await featuresOf(env.cri, VMM_HANDLER), { recursiveReadOnlyMounts: true, userNamespaces: false });

    const host = dirWithSubmount(t);
    const c = shContainer("c", "sleep 100000");
    c.mounts = [
      { containerPath: "/rro", hostPath: host, readonly: true, recursiveReadOnly: true, propagation: MountPropagation.PROPAGATION_PRIVATE },
      { containerPath: "/rw", hostPath: host, propagation: MountPropagation.PROPAGATION_PRIVATE },
    ];
    const { podId, ids } = await runPod(env.cri, VMM_HANDLER, podConfig("rro-vm", logDir), [c]);
    const id = ids[0]!;
    // The control: the same dir and submount, bound read-write, are written through the share.
    const rw = await sh(env.cri, id, "touch /rw/top /rw/sub/y");
    assert.equal(rw.code, 0, `the read-write bind of the same dir: ${rw.out}`);
    assert.equal(existsSync(join(host, "sub", "y")), true);
    const top = await sh(env.cri, id, "touch /rro/top2");
    assert.notEqual(top.code, 0, "the mount itself is read-only");
    assert.match(top.out, /Read-only file system/);
    const sub = await sh(env.cri, id, "touch /rro/sub/x");
    assert.notEqual(sub.code, 0, "the submount is read-only too (rro)");
    assert.match(sub.out, /Read-only file system/);
    assert.equal(existsSync(join(host, "sub", "x")), false);
    const opts = await sh(env.cri, id, "ls /rro/sub >/dev/null; awk '$5==\"/rro/sub\"{print $6}' /proc/self/mountinfo");
    assert.match(opts.out, /^ro[,\n]/, `the submount's per-mount options in the guest: ${opts.out}`);
    await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: podId });
  });
});
