import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isAlive, killQuietly, waitGone } from "../../src/pod/pod.js";
import type { CriClient } from "../../testing/cri.js";
import { logFile, podConfig, runPod, waitExited, waitForLog } from "../../testing/cri-pod.js";
import { assertPodEndedAndCleaned, containerPid, holderPidOf, QUICK_MS, startTwoContainerPod, type TwoContainerPod } from "../../testing/holder-death.js";
import { settledLeaksOf } from "../../testing/state-dir.js";
import { assertIsolated } from "../../testing/isolation.js";
import { afterRedial, containerd2WithKuasar, GVISOR_HANDLER, HANDLER, WASM_HANDLER, type Containerd2WithKuasar } from "../../testing/kuasar-containerd2.js";
import { containerd17WithKuasar, HANDLER_17, type Containerd17WithKuasar } from "../../testing/kuasar-containerd17.js";
import { importWasmImage } from "../../testing/wasm-image.js";
import { infiniteLoopModule } from "../../testing/wat-modules.js";
import { censusDiff, takeCensus, type Census, type CensusScope } from "../../testing/leak-census.js";
import { warmUpPod } from "../../testing/pod-scenario.js";

assertIsolated();

const WASM_IMAGE = "docker.io/library/wasm-demo:latest";

/** The census counts what a running pod has (so an empty diff at the end means it is all gone); `ids` name its cgroups. */
function assertCensusSeesPod(scope: CensusScope, before: Census, ids: readonly string[], kinds: readonly (keyof Census)[] = ["processes", "mounts", "entries", "cgroups"]): void {
  const during = censusDiff(before, takeCensus(scope));
  during.cgroups = (during.cgroups ?? []).filter((c) => ids.some((id) => c.includes(id)));
  for (const k of kinds) assert.ok((during[k]?.length ?? 0) > 0, `the census counts the pod's ${k}: ${JSON.stringify(during)}`);
}

/** One holder-death case: a two-container pod of `handler` whose holder `killHolder` kills. */
interface HolderDeath {
  cri: CriClient;
  handler: string;
  sandboxerDir: string;
  containerdState: string;
  logDir: string;
  /** Whose fds the census counts: a daemon that restarts has a new pid and is left out. */
  fdPids: number[];
  /** The pod's containers each have their own pid namespace (gvisor's sandbox has one for all). */
  distinctPidNs?: boolean;
  /** Adds the pod's processes beyond its holder and containers that must die with it. */
  onStarted?: (pod: TwoContainerPod) => void;
  /** Kills the holder (kill -9), and whatever the case does around it. */
  killHolder?: (pod: TwoContainerPod) => Promise<void>;
}

/** Warms up, counts, runs the pod, kills its holder, and checks the pod ended and nothing is left. */
async function holderDeath(c: HolderDeath): Promise<void> {
  await warmUpPod(c.cri, c.handler, c.logDir, { timeoutMs: QUICK_MS });
  const scope: CensusScope = { dirs: [c.sandboxerDir, join(c.containerdState, "io.containerd.runtime.v2.task")], fdPids: c.fdPids };
  const before = takeCensus(scope);
  const pod = await startTwoContainerPod(c.cri, c.handler, c.sandboxerDir, "victim", c.logDir, c.distinctPidNs);
  c.onStarted?.(pod);
  assertCensusSeesPod(scope, before, [pod.own, pod.shared]);
  if (c.killHolder) await c.killHolder(pod);
  else killQuietly(pod.holderPid);
  await assertPodEndedAndCleaned(c.cri, c.handler, pod, scope, before, c.logDir);
}

type Where = Pick<HolderDeath, "cri" | "handler" | "sandboxerDir" | "containerdState" | "logDir">;

/** Where a case runs under containerd 2.x: `handler`'s pods, its sandboxer's state dir. */
const on2x = (env: Containerd2WithKuasar, handler: string): Where => ({ cri: env.cri, handler, sandboxerDir: env.sandboxerDir, containerdState: env.containerd.state, logDir: join(env.dir, "logs") });

/** Where a case runs under containerd 1.7: the bridge's runc pods, kuasard's runc state dir. */
const on17 = (env: Containerd17WithKuasar): Where => ({ cri: env.cri, handler: HANDLER_17, sandboxerDir: join(env.dir, "kr"), containerdState: env.containerd.state, logDir: join(env.dir, "logs") });

describe("a pod holder killed (kill -9) under stock containerd 2.x", () => {
  it("ends the pod: containers Exited 137, pod NotReady, Stop and Remove quick, nothing left", async (t) => {
    const env = await containerd2WithKuasar(t);
    await holderDeath({ ...on2x(env, HANDLER), fdPids: [env.endpointPid, env.sandboxer.pid] });
  });

  it("a holder that died while kuasard was down is found at recovery and handled the same way", async (t) => {
    const env = await containerd2WithKuasar(t);
    await holderDeath({
      ...on2x(env, HANDLER),
      // The daemon restarts (new pid): its fds are not comparable, the endpoint's are.
      fdPids: [env.endpointPid],
      killHolder: async (pod) => {
        await env.sandboxer.kill9();
        killQuietly(pod.holderPid);
        await env.restartSandboxer();
        await afterRedial(() => env.cri.runtime.podSandboxStatus({ podSandboxId: pod.podId }));
      },
    });
  });
});

describe("a pod holder killed (kill -9) under stock containerd 1.7 (shim bridge)", () => {
  it("ends the pod: the sandbox task and app tasks exit, containers Exited 137, pod NotReady, nothing left", async (t) => {
    const env = await containerd17WithKuasar(t);
    await holderDeath({ ...on17(env), fdPids: [env.endpointPid, env.kuasard.pid] });
  });

  it("a holder that died while kuasard was down is found at recovery and handled the same way", async (t) => {
    const env = await containerd17WithKuasar(t);
    await holderDeath({
      ...on17(env),
      // kuasard restarts (new pid): its fds are not comparable, the endpoint's are.
      fdPids: [env.endpointPid],
      killHolder: async (pod) => {
        await env.kuasard.kill9();
        killQuietly(pod.holderPid);
        await env.restartKuasard();
      },
    });
  });
});

describe("a gvisor pod holder killed (kill -9) under stock containerd 2.x", () => {
  it("tears the runsc sandbox down: containers Exited 137, pod NotReady, nothing left", async (t) => {
    const env = await containerd2WithKuasar(t, ["gvisor"]);
    await holderDeath({
      ...on2x(env, GVISOR_HANDLER),
      fdPids: [env.endpointPid, env.sandboxer.pid],
      distinctPidNs: false,
      onStarted: (pod) => {
        const sandboxPid = Number(readFileSync(join(env.sandboxerDir, "pods", pod.podId, "gvisor", "sandbox.pid"), "utf8").trim());
        assert.ok(isAlive(sandboxPid), "the runsc sandbox runs");
        pod.pids.push(sandboxPid);
      },
    });
  });
});

describe("a wasm pod holder killed (kill -9) under stock containerd 2.x", () => {
  // node: a runner process per container; wasmedge-pod: runners of the pod's WasmEdge host, which leaves with the holder.
  for (const engine of ["node", "wasmedge-pod"]) it(`${engine}: kills the pod's runner: the container Exited 137, pod NotReady, nothing left`, async (t) => {
    const env = await containerd2WithKuasar(t, ["wasm"], `wasm_engine = "${engine}"\n`);
    const { cri } = env;
    const logDir = join(env.dir, "logs");
    await importWasmImage(env.containerd, "k8s.io", WASM_IMAGE, { "loop.wasm": await infiniteLoopModule() }, "/loop.wasm");
    const loop = { metadata: { name: "loop", attempt: 0 }, image: { image: WASM_IMAGE }, command: ["/loop.wasm"], logPath: "loop.log" };
    await warmUpPod(cri, WASM_HANDLER, logDir, { containers: [loop], timeoutMs: QUICK_MS });
    const scope: CensusScope = { dirs: [env.sandboxerDir, join(env.containerd.state, "io.containerd.runtime.v2.task")], fdPids: [env.endpointPid, env.sandboxer.pid] };
    const before = takeCensus(scope);
    const cfg = podConfig("victim", join(logDir, "victim"));
    const { podId, ids } = await runPod(cri, WASM_HANDLER, cfg, [loop]);
    await waitForLog(logFile(cfg, loop), "looping");
    const runner = await containerPid(cri, ids[0]!);
    const holderPid = holderPidOf(env.sandboxerDir, podId);
    assertCensusSeesPod(scope, before, ids, ["processes", "mounts", "entries"]);
    killQuietly(holderPid);
    assert.equal((await waitExited(cri, ids[0]!, QUICK_MS)).exitCode, 137);
    assert.ok(await waitGone(runner, 5000), "the runner is gone");
    await cri.runtime.stopPodSandbox({ podSandboxId: podId }, { timeoutMs: QUICK_MS });
    await cri.runtime.removePodSandbox({ podSandboxId: podId }, { timeoutMs: QUICK_MS });
    assert.deepEqual(await settledLeaksOf(scope, before, [podId, ...ids]), {}, "nothing left");
  });
});
