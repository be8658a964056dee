import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { shimProcesses } from "../harness/cri.js";
import { podConfig, runPod, shContainer } from "../harness/cri-pod.js";
import { assertIsolated } from "../harness/isolation.js";
import { containerd2ShimWithKuasar, type Containerd2ShimWithKuasar, type ShimSandboxMode } from "../harness/kuasar-containerd2-shim.js";
import { censusDiff, takeCensus, type CensusScope } from "../harness/leak-census.js";
import { assertHolder, holderOf, HTTPD_SERVER, podScenario, warmUpPod } from "../harness/pod-scenario.js";
import { wasmEchoPod } from "../harness/wasm-echo-pod.js";

assertIsolated();

const RUNTIME = "io.containerd.kuasar.v1";
const HANDLER = "kuasar";

/** What a leak would show up in: kuasard's and the endpoint's fds, kuasard's state and containerd's task and sandbox state. */
function scopeOf(env: Containerd2ShimWithKuasar): CensusScope {
  return {
    dirs: [join(env.dir, "kr"), join(env.containerd.state, "io.containerd.runtime.v2.task"), join(env.containerd.state, "io.containerd.sandbox.controller.v1.shim")],
    fdPids: [env.kuasard.pid, env.endpointPid],
  };
}

/** The pod scenario through the launcher and the resident bridge; nothing left. */
async function podScenarioVia(env: Containerd2ShimWithKuasar, mode: ShimSandboxMode): Promise<void> {
  const { cri } = env;
  const logDir = join(env.dir, "logs");
  await warmUpPod(cri, HANDLER, logDir);
  const scope = scopeOf(env);
  const before = takeCensus(scope);
  await podScenario({
    cri,
    handler: HANDLER,
    name: `web-${mode}`,
    logDir: join(logDir, "web"),
    server: HTTPD_SERVER,
    whileRunning: async ({ podId }) => {
      // The pod is our holder: no pause container and no shim process runs.
      assertHolder(holderOf((await cri.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true })).info));
      // Each mode takes its own way into the bridge: the pause task, or the shim's sandbox service.
      const way = mode === "podsandbox" ? /"msg":"pod sandbox task created \(no pause container\)"/ : /"msg":"sandbox created through the shim sandbox service"/;
      assert.match(env.kuasard.logs(), way);
    },
  });
  assert.deepEqual(censusDiff(before, takeCensus(scope)), {});
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
