import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { assertIsolated } from "../../testing/isolation.js";
import { forkHandlerOf, forkWithKuasar, type ForkWithKuasar } from "../../testing/kuasar-containerd-fork.js";
import type { E2eKind } from "../../testing/kuasar-containerd2.js";
import { VMM_TEST_CONFIG } from "../../testing/vm-pod.js";
import { censusDiff, takeCensus, type CensusScope } from "../../testing/leak-census.js";
import { NC_SERVER, podScenario, warmUpPod } from "../../testing/pod-scenario.js";
import { wasmEchoPod } from "../../testing/wasm-echo-pod.js";

assertIsolated();

/** What a leak would show up in: our state (pods, records, prepared bundles), containerd's, our daemons' fds. */
function scopeOf(env: ForkWithKuasar, kind: E2eKind): CensusScope {
  return {
    dirs: [env.dirOf(kind), join(env.dirOf(kind), "bundles"), join(env.containerd.state, "io.containerd.runtime.v2.task")],
    fdPids: [env.sandboxer.pid, env.endpointPid],
  };
}

/**
 * The pod scenario on the fork, nothing left. The fork made the pod through our Sandbox API
 * (Create/Start), had each container's bundle made by Prepare, dialled the task address
 * from Status and removed each bundle with Purge.
 */
async function podScenarioOnFork(env: ForkWithKuasar, kind: E2eKind): Promise<void> {
  const { cri } = env;
  const handler = forkHandlerOf[kind];
  const logDir = join(env.dir, "logs");
  await warmUpPod(cri, handler, logDir);
  const scope = scopeOf(env, kind);
  const before = takeCensus(scope);

  const bundlesOf = (podId: string) => join(env.dirOf(kind), "bundles", podId);
  const { podId, ids } = await podScenario({
    cri,
    handler,
    name: `web-${kind}`,
    logDir: join(logDir, "web"),
    server: NC_SERVER,
    execTimeout: 20n,
    fetchAttempts: 100,
    // No shim (the scenario checks): the containers' tasks are served by kuasar-endpoint from bundles Prepare made.
    whileRunning: ({ podId, ids, serverId }) => {
      const bundles = bundlesOf(podId);
      assert.deepEqual(readdirSync(bundles).sort(), [...ids].sort(), "Prepare made one bundle per container");
      // containerd kept the task address it read from Status next to the bundle, in the form it dials.
      assert.match(readFileSync(join(bundles, serverId, "address"), "utf8"), /^unix:\/\/\/.*task\.sock$/);
      assert.match(env.sandboxer.logs(), new RegExp(`"sandboxer":"${kind}".*"container_id":"${serverId}".*"msg":"container created"`));
    },
    afterClientStopped: async ({ podId, clientId }) => {
      await cri.runtime.removeContainer({ containerId: clientId });
      assert.ok(!existsSync(join(bundlesOf(podId), clientId)), "Purge removed the deleted container's bundle");
    },
  });
  const bundles = bundlesOf(podId);
  assert.ok(!existsSync(bundles), "Shutdown removed the pod's bundles");
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

/** A WASI module in a wasm pod on the fork; Shutdown removed the pod's bundles. */
async function wasmPod(t: TestContext, env: ForkWithKuasar): Promise<void> {
  const podId = await wasmEchoPod(t, {
    cri: env.cri,
    containerd: env.containerd,
    handler: forkHandlerOf.wasm,
    logDir: join(env.dir, "logs", "wasm-pod"),
    arg: "the-fork",
    afterExit: () => assert.match(env.sandboxer.logs(), /"sandboxer":"wasm".*"msg":"container created"/),
  });
  assert.ok(!existsSync(join(env.dirOf("wasm"), "bundles", podId)), "Shutdown removed the pod's bundles");
}

describe("the kuasar-io containerd fork (main, 1.7.0 based, ENABLE_CRI_SANDBOXES=1)", () => {
  it("runs the pod scenario on a runc pod through runc-sandboxer --sandbox-api kuasar-io: localhost, ExecSync, logs, graceful stop, removal, nothing left", async (t) => {
    const env = await forkWithKuasar(t, ["runc"]);
    await podScenarioOnFork(env, "runc");
  });

  it("runs the pod scenario on a gvisor pod and a WASI module in a wasm pod through one kuasard whose sockets say sandbox_api = \"kuasar-io\"", async (t) => {
    const env = await forkWithKuasar(t, ["runc", "gvisor", "wasm"]);
    await podScenarioOnFork(env, "gvisor");
    await wasmPod(t, env);
  });

  it("runs the pod scenario on a vmm pod (a QEMU micro-VM) through kuasard with sandbox_api = \"kuasar-io\"", async (t) => {
    const env = await forkWithKuasar(t, ["runc", "vmm"], VMM_TEST_CONFIG);
    await podScenarioOnFork(env, "vmm");
  });
});
