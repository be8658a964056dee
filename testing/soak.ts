import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { CriClient } from "./cri.js";
import { decodeOut, podConfig, runPod, shContainer } from "./cri-pod.js";
import { settledLeaksOf } from "./state-dir.js";
import { leastSquaresSlope } from "./least-squares.js";
import { takeCensus, type Census, type CensusScope } from "./leak-census.js";

/**
 * A soak: many pod create/remove cycles through CRI, with the node counted
 * every few cycles, to show that a cycle leaves nothing behind and that no
 * resident process grows with the number of pods it has served.
 */

/** A long-lived process whose memory is watched, named for the report. */
export interface Resident {
  readonly name: string;
  readonly pid: number;
  /** Its command name (`/proc/<pid>/comm`): checked at every sample, so a replaced process is not mistaken for the same one. */
  readonly comm: string;
}

export interface SoakOptions {
  readonly cri: CriClient;
  readonly handler: string;
  /** Parent of each pod's CRI log dir (removed after each cycle). */
  readonly logDir: string;
  readonly warmUpCycles: number;
  readonly cycles: number;
  /** A sample every this many cycles (and one after the last). */
  readonly sampleEvery: number;
  /** An ExecSync into the container every this many cycles. */
  readonly execEvery: number;
  readonly residents: readonly Resident[];
  /** Reads the daemon's live heap after a full GC, KiB (RSS saws with V8's collector; this does not). */
  readonly heapKiB?: () => Promise<number>;
  /** What the census counts (dirs, fd pids); cgroups are counted only when named after this soak's pods and containers. */
  readonly scope: CensusScope;
}

/** The node counted after a cycle (when no pod of the soak exists). */
export interface SoakSample {
  /** Cycles done since warm-up. */
  readonly cycle: number;
  /** VmRSS (KiB) of each resident, by name. */
  readonly rssKiB: Record<string, number>;
  /** The daemon's live heap after a full GC, KiB (when the options give a way to read it). */
  readonly heapKiB: number | undefined;
  /** Count per census category (fds per watched pid as `fds:<pid>`; cgroups only this soak's). */
  readonly counts: Record<string, number>;
}

export interface SoakResult {
  readonly baseline: Census;
  readonly samples: readonly SoakSample[];
  /** What grew between the post-warm-up census and the end (after settling); `{}` when nothing leaked. */
  readonly leaked: Awaited<ReturnType<typeof settledLeaksOf>>;
  /** Least-squares slope of each resident's VmRSS over the samples, KiB per cycle. */
  readonly rssSlopeKiB: Record<string, number>;
  /** Least-squares slope of each count over the samples, per cycle. */
  readonly countSlope: Record<string, number>;
  /** Least-squares slope of the daemon's live heap after GC, KiB per cycle (undefined without a reader). */
  readonly heapSlopeKiB: number | undefined;
}

/** VmRSS of `pid` in KiB (from /proc/<pid>/status). */
export function vmRssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** One cycle: RunPodSandbox, Create+Start a busybox container, maybe ExecSync, StopPodSandbox, RemovePodSandbox. Returns the pod's and container's ids. */
export async function podCycle(cri: CriClient, handler: string, logDir: string, n: number, exec: boolean): Promise<string[]> {
  const dir = join(logDir, `p${n}`);
  const { podId, ids } = await runPod(cri, handler, podConfig(`soak-${n}`, dir), [shContainer("c", "exec sleep 1000")]);
  if (exec) {
    const r = await cri.runtime.execSync({ containerId: ids[0]!, cmd: ["echo", `soak-${n}`], timeout: 10n });
    assert.equal(decodeOut(r.stdout), `soak-${n}\n`, `cycle ${n}: ExecSync output`);
  }
  await cri.runtime.stopPodSandbox({ podSandboxId: podId }, { timeoutMs: 30_000 });
  await cri.runtime.removePodSandbox({ podSandboxId: podId }, { timeoutMs: 30_000 });
  rmSync(dir, { recursive: true, force: true });
  return [podId, ...ids];
}

/** Runs the warm-up, then the counted cycles; the caller asserts on the result. */
export async function runSoak(o: SoakOptions, log: (msg: string) => void): Promise<SoakResult> {
  const ids: string[] = [];
  for (let i = 0; i < o.warmUpCycles; i++) ids.push(...(await podCycle(o.cri, o.handler, o.logDir, -1 - i, i % o.execEvery === 0)));
  // What the warm-up created for good (cgroup parents, CNI state, lazily opened connections) is the baseline.
  await settledLeaksOf(o.scope, takeCensus(o.scope), ids);
  const baseline = takeCensus(o.scope);
  const samples: SoakSample[] = [sample(o, 0, baseline, new Set(ids), await o.heapKiB?.())];
  const started = Date.now();
  for (let n = 1; n <= o.cycles; n++) {
    ids.push(...(await podCycle(o.cri, o.handler, o.logDir, n, n % o.execEvery === 0)));
    if (n % o.sampleEvery === 0 || n === o.cycles) {
      samples.push(sample(o, n, takeCensus(o.scope), new Set(ids), await o.heapKiB?.()));
      log(`cycle ${n}/${o.cycles} (${((Date.now() - started) / n).toFixed(0)} ms/cycle): ${fmt(samples.at(-1)!.rssKiB)}`);
    }
  }
  const leaked = await settledLeaksOf(o.scope, baseline, ids);
  const xs = samples.map((s) => s.cycle);
  const slopeOf = (get: (s: SoakSample) => number) => leastSquaresSlope(xs, samples.map(get));
  const rssSlopeKiB = Object.fromEntries(o.residents.map((r) => [r.name, slopeOf((s) => s.rssKiB[r.name]!)]));
  const countSlope = Object.fromEntries(Object.keys(samples[0]!.counts).map((k) => [k, slopeOf((s) => s.counts[k] ?? 0)]));
  const heapSlopeKiB = samples.every((s) => s.heapKiB !== undefined) ? slopeOf((s) => s.heapKiB!) : undefined;
  return { baseline, samples, leaked, rssSlopeKiB, countSlope, heapSlopeKiB };
}

function sample(o: SoakOptions, cycle: number, c: Census, ids: ReadonlySet<string>, heapKiB: number | undefined): SoakSample {
  const rssKiB: Record<string, number> = {};
  for (const r of o.residents) {
    const comm = readFileSync(`/proc/${r.pid}/comm`, "utf8").trim();
    assert.equal(comm, r.comm, `cycle ${cycle}: pid ${r.pid} is still ${r.name} (${r.comm})`);
    rssKiB[r.name] = vmRssKiB(r.pid);
  }
  const counts: Record<string, number> = {
    processes: c.processes.length,
    mounts: c.mounts.length,
    entries: c.entries.length,
    netns: c.netns.length,
    cgroups: c.cgroups.filter((p) => [...ids].some((id) => p.includes(id))).length,
  };
  for (const [pid, fds] of Object.entries(c.fds)) counts[`fds:${pid}`] = fds.length;
  return { cycle, rssKiB, heapKiB, counts };
}

/** `name=value` pairs for a diagnostic line. */
export function fmt(r: Record<string, number>, digits = 0): string {
  return Object.entries(r)
    .map(([k, v]) => `${k}=${v.toFixed(digits)}`)
    .join(" ");
}
