import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { podConfig, runPod, shContainer } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2WithKuasar, GVISOR_HANDLER, HANDLER } from "../../testing/kuasar-containerd2.js";
import { listProcesses, readProcessMemory, type ProcessInfo } from "../../testing/process-table.js";

assertIsolated();

const PODS = 10;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * What a gvisor pod's host processes are: the runsc sandbox (gVisor's kernel, running the
 * pod's workload: it counts as the pod) or management (the holder and its pod-init fork,
 * runsc gofers, `runsc wait` waiters).
 */
function classify(procs: ProcessInfo[], podDir: string): { sandbox: ProcessInfo[]; holder: ProcessInfo[]; gofers: ProcessInfo[]; waiters: ProcessInfo[] } {
  const sandboxPid = Number(readFileSync(join(podDir, "gvisor", "sandbox.pid"), "utf8").trim());
  // `<holder pid> <pod init pid>`: the holder and its fork holding the pod's namespaces.
  const holderPids = readFileSync(join(podDir, "holder.pid"), "utf8").trim().split(/\s+/).map(Number);
  const ofPod = procs.filter((p) => p.cmdline.some((a) => a.includes(join(podDir, "runsc"))));
  return {
    sandbox: procs.filter((p) => p.pid === sandboxPid),
    holder: procs.filter((p) => holderPids.includes(p.pid)),
    gofers: ofPod.filter((p) => p.cmdline.includes("gofer")),
    waiters: ofPod.filter((p) => p.cmdline.includes("wait")),
  };
}

async function pssKb(ps: ProcessInfo[]): Promise<number> {
  let sum = 0;
  for (const p of ps) sum += (await readProcessMemory(p.pid))?.pss_kb ?? 0;
  return sum;
}

describe("gvisor pod footprint (10 pods, runc beside it on the same kuasard)", () => {
  it("runs no waiter process per container and no gofer for the root container; reports management PSS per pod and start times vs runc", async (t) => {
    const env = await containerd2WithKuasar(t, ["gvisor", "runc"]);
    const { cri } = env;
    const started: { kind: string; ms: number }[] = [];
    const gvisorPods: string[] = [];
    for (let i = 0; i < PODS; i++) {
      // Interleaved, one container each, timed from RunPodSandbox to a started container.
      for (const [kind, handler] of [["runc", HANDLER], ["gvisor", GVISOR_HANDLER]] as const) {
        const t0 = process.hrtime.bigint();
        const { podId } = await runPod(cri, handler, podConfig(`${kind}${i}`, `${env.dir}/logs/${kind}${i}`), [shContainer("c", "sleep 100000")]);
        started.push({ kind, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
        if (kind === "gvisor") gvisorPods.push(podId);
      }
    }
    const procs = await listProcesses();
    let holderKb = 0;
    let goferKb = 0;
    let waiterKb = 0;
    let sandboxKb = 0;
    let gofers = 0;
    let waiters = 0;
    for (const id of gvisorPods) {
      const c = classify(procs, join(env.sandboxerDir, "pods", id));
      assert.equal(c.sandbox.length, 1, `pod ${id}: its runsc sandbox`);
      holderKb += await pssKb(c.holder);
      goferKb += await pssKb(c.gofers);
      waiterKb += await pssKb(c.waiters);
      sandboxKb += await pssKb(c.sandbox);
      gofers += c.gofers.length;
      waiters += c.waiters.length;
    }
    assert.equal(waiters, 0, "no runsc wait per container");
    // The root container boots from the node's EROFS image: the app container's gofer is the only one.
    assert.equal(gofers, PODS, "one gofer per pod (its container's), none for the root container");
    // With directfs the gofer idles: it runs with one Go scheduler thread.
    for (const id of gvisorPods) {
      for (const g of classify(procs, join(env.sandboxerDir, "pods", id)).gofers) {
        assert.ok(readFileSync(`/proc/${g.pid}/environ`, "utf8").split("\0").includes("GOMAXPROCS=1"), `gofer ${g.pid}: GOMAXPROCS=1`);
      }
    }
    const daemons = procs.filter((p) => ["node", "kuasar-endpoint", "kuasar-custody"].some((n) => p.comm.startsWith(n)) && !p.cmdline.some((a) => a.includes("/test/")));
    const daemonKb = await pssKb(daemons);
    const perPod = (kb: number) => (kb / PODS / 1024).toFixed(2);
    t.diagnostic(`gvisor, per pod over ${PODS} pods (MB of PSS): holder ${perPod(holderKb)}, gofers ${perPod(goferKb)} (${gofers / PODS} per pod), waiters ${perPod(waiterKb)} (${waiters}), management ${perPod(holderKb + goferKb + waiterKb)}; runsc sandbox (the pod itself) ${perPod(sandboxKb)}`);
    t.diagnostic(`shared daemons (kuasard, endpoint, custody; serving ${PODS} gvisor + ${PODS} runc pods): ${(daemonKb / 1024).toFixed(1)} MB`);
    const med = (kind: string) => median(started.filter((s) => s.kind === kind).map((s) => s.ms));
    t.diagnostic(`pod start (RunPodSandbox to a started container, median of ${PODS}, interleaved): runc ${med("runc").toFixed(0)} ms, gvisor ${med("gvisor").toFixed(0)} ms (${(med("gvisor") / med("runc")).toFixed(2)}x)`);
    for (const p of (await cri.runtime.listPodSandbox({})).items) {
      await cri.runtime.stopPodSandbox({ podSandboxId: p.id });
      await cri.runtime.removePodSandbox({ podSandboxId: p.id });
    }
  });
});
