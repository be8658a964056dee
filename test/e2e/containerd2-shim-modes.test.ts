import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { shimProcesses } from "../../testing/cri.js";
import { decodeOut, podConfig, runPod, shContainer } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2ShimWithKuasar, type Containerd2ShimWithKuasar, type ShimHandler, type ShimSandboxMode } from "../../testing/kuasar-containerd2-shim.js";
import { censusDiff, takeCensus, type CensusScope } from "../../testing/leak-census.js";
import type { E2eKind } from "../../testing/kuasar-containerd2.js";
import { assertHolder, holderOf, HTTPD_SERVER, NC_SERVER, podScenario, warmUpPod } from "../../testing/pod-scenario.js";
import { VMM_TEST_CONFIG } from "../../testing/vm-pod.js";
import { wasmEchoPod } from "../../testing/wasm-echo-pod.js";

assertIsolated();

const RUNTIME = "io.containerd.kuasar.v1";
const HANDLER = "kuasar";

/** What a leak would show up in: kuasard's and the endpoint's fds, the state of `kind`'s sandboxer and containerd's task and sandbox state. */
function scopeOf(env: Containerd2ShimWithKuasar, kind: E2eKind = "runc"): CensusScope {
  return {
    dirs: [join(env.dir, `k${kind[0]}`), join(env.containerd.state, "io.containerd.runtime.v2.task"), join(env.containerd.state, "io.containerd.sandbox.controller.v1.shim")],
    fdPids: [env.kuasard.pid, env.endpointPid],
  };
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

/** `net.ipv4.ip_unprivileged_port_start` as a container of the pod reads it (the kernel's default is 1024). */
async function unprivilegedPortStart(cri: Containerd2ShimWithKuasar["cri"], containerId: string): Promise<string> {
  return decodeOut((await cri.runtime.execSync({ containerId, cmd: ["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"], timeout: 20n })).stdout);
}

/** The pod scenario through the launcher and the resident bridge; nothing left. */
async function podScenarioVia(env: Containerd2ShimWithKuasar, mode: ShimSandboxMode): Promise<void> {
  const { cri } = env;
  const logDir = join(env.dir, "logs");
  await warmUpPod(cri, HANDLER, logDir);
  const scope = scopeOf(env);
  const before = takeCensus(scope);
  const { podId, ids } = await podScenario({
    cri,
    handler: HANDLER,
    name: `web-${mode}`,
    logDir: join(logDir, "web"),
    server: HTTPD_SERVER,
    whileRunning: async ({ podId, clientId }) => {
      // The pod is our holder: no pause container and no shim process runs.
      assertHolder(holderOf((await cri.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true })).info));
      // Each mode takes its own way into the bridge: the pause task, or the shim's sandbox service.
      const way = mode === "podsandbox" ? /"msg":"pod sandbox task created \(no pause container\)"/ : /"msg":"sandbox created through the shim sandbox service"/;
      assert.match(env.kuasard.logs(), way);
      if (mode === "podsandbox") assert.equal(await unprivilegedPortStart(cri, clientId), "0\n", "containerd's unprivileged-port default is set");
    },
  });
  assert.deepEqual(ours(censusDiff(before, takeCensus(scope)), [podId, ...ids]), {});
}

/** Several pods at once are served by the one resident bridge: still no shim process, one holder per pod. */
async function severalPods(env: Containerd2ShimWithKuasar, mode: ShimSandboxMode, n: number): Promise<void> {
  const { cri } = env;
  const pods = await Promise.all(
    Array.from({ length: n }, (_, i) => runPod(cri, HANDLER, podConfig(`many-${mode}-${i}`, join(env.dir, "logs", `many${i}`)), [shContainer("c", "exec sleep 1000")])),
  );
  assert.equal((await cri.runtime.listPodSandbox({})).items.length, n);
  assert.deepEqual(await shimProcesses(), []);
  const holders = new Set<number>();
  for (const p of pods) {
    const holder = holderOf((await cri.runtime.podSandboxStatus({ podSandboxId: p.podId, verbose: true })).info);
    assertHolder(holder);
    holders.add(holder);
  }
  assert.equal(holders.size, n);
  for (const p of pods) {
    await cri.runtime.stopPodSandbox({ podSandboxId: p.podId });
    await cri.runtime.removePodSandbox({ podSandboxId: p.podId });
  }
}

for (const mode of ["podsandbox", "shim"] as const) {
  const what = mode === "podsandbox" ? `only runtime_type = "${RUNTIME}" (podsandbox)` : `runtime_type = "${RUNTIME}", sandboxer = "shim"`;
  describe(`stock containerd 2.x with ${what}`, () => {
    it("runs the pod scenario through the launcher and the resident bridge: localhost, ExecSync, logs, graceful stop, removal, nothing left", async (t) => {
      const env = await containerd2ShimWithKuasar(t, mode, [{ name: HANDLER, runtimeType: RUNTIME }]);
      await podScenarioVia(env, mode);
    });

    it("serves several pods 1:N: one bridge, a holder per pod, no containerd-shim process", async (t) => {
      const env = await containerd2ShimWithKuasar(t, mode, [{ name: HANDLER, runtimeType: RUNTIME }]);
      await severalPods(env, mode, 4);
    });
  });
}

/** A WASI module in a pod of `handler`; the wasm sandboxer ran it, and no shim process did. */
async function wasmPod(t: TestContext, env: Containerd2ShimWithKuasar, handler: string): Promise<void> {
  await wasmEchoPod(t, {
    cri: env.cri,
    containerd: env.containerd,
    handler,
    logDir: join(env.dir, "logs", "wasm-pod"),
    arg: handler,
    afterExit: async () => {
      assert.match(env.kuasard.logs(), /"sandboxer":"wasm".*"msg":"container created"/);
      assert.deepEqual(await shimProcesses(), []);
    },
  });
}

describe("choosing the sandboxer with only a shim runtime_type under stock containerd 2.x", () => {
  it(`Kuasar's name runtime_type = "io.containerd.kuasar-wasm.v2" (containerd-shim-kuasar-wasm-v2) runs a wasm pod with no other setting`, async (t) => {
    const env = await containerd2ShimWithKuasar(t, "podsandbox", [{ name: "kuasar-wasm", runtimeType: "io.containerd.kuasar-wasm.v2" }], ["runc", "wasm"]);
    await wasmPod(t, env, "kuasar-wasm");
  });

  // Not the handler's options table here: containerd 2.1 cannot start a container of a pod with a
  // sandbox controller when the handler has non-runc options (containerd PR 13360 fixes it later);
  // Kuasar's name is the way to pick a kind per handler in this mode.
  it(`sandboxer = "shim" with Kuasar's name io.containerd.kuasar-wasm.v2 runs a wasm pod through the shim sandbox service`, async (t) => {
    const env = await containerd2ShimWithKuasar(t, "shim", [{ name: "kuasar-wasm", runtimeType: "io.containerd.kuasar-wasm.v2" }], ["runc", "wasm"]);
    await wasmPod(t, env, "kuasar-wasm");
  });
});

/** Kuasar's runtime names of the VM-isolated kinds (their launcher links are in bin/). */
const VM_KIND_HANDLERS = [
  { kind: "gvisor", name: "kuasar-gvisor", runtimeType: "io.containerd.kuasar-gvisor.v2" },
  { kind: "vmm", name: "kuasar-vmm", runtimeType: "io.containerd.kuasar-vmm.v2" },
] as const satisfies readonly (ShimHandler & { kind: E2eKind })[];

/**
 * Asserts the pod's own process, named by PodSandboxStatus's verbose info, is what `kind` runs:
 * our holder, or for a vmm pod (no holder on the host) its QEMU, never a pause process or a shim.
 */
function assertPodProcess(kind: E2eKind, info: Record<string, string>): void {
  if (kind !== "vmm") return assertHolder(holderOf(info));
  const pid = Number(info["qemu_pid"] ?? (JSON.parse(info["info"] ?? "{}") as { pid?: number }).pid ?? 0);
  assert.match(readFileSync(`/proc/${pid}/comm`, "utf8"), /^qemu-system/, JSON.stringify(info));
}

/** The pod scenario on a pod of `kind` (picked by Kuasar's runtime name `handler`) through the bridge; nothing left. */
async function isolatedPodScenarioVia(env: Containerd2ShimWithKuasar, mode: ShimSandboxMode, kind: E2eKind, handler: string): Promise<void> {
  const { cri } = env;
  const logDir = join(env.dir, "logs", kind);
  await warmUpPod(cri, handler, logDir);
  const scope = scopeOf(env, kind);
  const before = takeCensus(scope);
  const { podId, ids } = await podScenario({
    cri,
    handler,
    name: `web-${kind}-${mode}`,
    logDir: join(logDir, "web"),
    server: NC_SERVER,
    execTimeout: 20n,
    fetchAttempts: 100,
    whileRunning: async ({ podId, serverId }) => {
      assertPodProcess(kind, (await cri.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true })).info);
      const way = mode === "podsandbox" ? /"msg":"pod sandbox task created \(no pause container\)"/ : /"msg":"sandbox created through the shim sandbox service"/;
      assert.match(env.kuasard.logs(), way);
      // containerd's own unprivileged-port default in the pause spec: set in a VM's guest, left out by gVisor (it cannot set sysctls).
      if (mode === "podsandbox" && kind === "vmm") assert.equal(await unprivilegedPortStart(cri, serverId), "0\n");
      // The runtime name chose the kind: that sandboxer made the container.
      assert.match(env.kuasard.logs(), new RegExp(`"sandboxer":"${kind}".*"container_id":"${serverId}".*"msg":"container created"`));
    },
  });
  assert.deepEqual(ours(censusDiff(before, takeCensus(scope)), [podId, ...ids]), {});
}

for (const mode of ["podsandbox", "shim"] as const) {
  const what = mode === "podsandbox" ? "only runtime_type (podsandbox)" : `runtime_type and sandboxer = "shim"`;
  describe(`gvisor and vmm pods under stock containerd 2.x with ${what}`, () => {
    it(`runs the pod scenario on a gvisor pod and a vmm pod (QEMU micro-VM) picked by Kuasar's runtime names ${VM_KIND_HANDLERS.map((h) => h.runtimeType).join(" and ")}: localhost, ExecSync, logs, graceful stop, removal, nothing left`, async (t) => {
      const env = await containerd2ShimWithKuasar(t, mode, VM_KIND_HANDLERS, ["runc", "gvisor", "vmm"], VMM_TEST_CONFIG);
      for (const h of VM_KIND_HANDLERS) await isolatedPodScenarioVia(env, mode, h.kind, h.name);
    });
  });
}
