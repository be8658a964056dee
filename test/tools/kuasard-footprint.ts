/**
 * Chooses kuasard's Node/V8 flags by measurement (not a test, not the benchmark):
 *
 *   node dist/test/tools/kuasard-footprint.js [pods=20] [rounds=2] [candidate,...]
 *   node dist/test/tools/kuasard-footprint.js parallel [pods=20] [rounds=2]
 *
 * For each candidate flag set, a fresh containerd 2.x + runc-sandboxer (log level info) started
 * with those flags runs `pods` runc pods started one after the other (RunPodSandbox +
 * CreateContainer + StartContainer, each timed); then kuasard gets SIGUSR2 (a full GC, it runs
 * with --expose-gc) and its PSS is read from /proc/<pid>/smaps_rollup. Candidates are
 * interleaved round by round (the machine is shared and its load drifts); prints per candidate
 * the median PSS over the rounds and the median serial start, as JSON. Runs as pid 1 of private
 * namespaces, as the e2e tests do.
 *
 * `parallel`: one environment (kuasard with its `phase_log`), `rounds` rounds of `pods` pods
 * started at once through containerd 2.x, as the benchmark's parallel rounds; prints the CRI
 * phases as the client saw them and kuasard's own steps (medians per round window), to find
 * where concurrent calls wait on each other.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { podConfig, runPod, shContainer } from "../../testing/cri-pod.js";
import { daemonPhases } from "../../bench/daemon-phases.js";
import { sleepContainer } from "../../bench/pod-workload.js";
import { parallelRound, serialIteration } from "../../bench/start-latency.js";
import { criPhaseMedians } from "../../bench/summarize.js";
import { ISOLATION_ENV, reexecIsolated, setupIsolation } from "../../testing/isolation.js";
import { containerd2WithKuasar, HANDLER } from "../../testing/kuasar-containerd2.js";

const CANDIDATES: Readonly<Record<string, readonly string[]>> = {
  // Every kind, the bridge and the kuasar-io API loaded at start, as before they were lazy.
  eager: ["--import", fileURLToPath(new URL("./eager-modules.js", import.meta.url))],
  none: [],
  "semi-1": ["--max-semi-space-size=1"],
  "lite-mode": ["--lite-mode"],
  "max-lazy": ["--max-lazy"],
  "optimize-for-size": ["--optimize-for-size"],
  "semi-1+lite-mode": ["--max-semi-space-size=1", "--lite-mode"],
  "single-threaded-gc": ["--single-threaded-gc"],
  "v8-pool-1": ["--v8-pool-size=1"],
};

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}
const now = () => Number(process.hrtime.bigint()) / 1e6;
const field = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? NaN);

interface Sample {
  pss_kb: number;
  pss_anon_kb: number;
  start_ms: number[];
}

async function once(flags: readonly string[], pods: number): Promise<Sample> {
  const cleanups: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as TestContext;
  try {
    const env = await containerd2WithKuasar(t, ["runc"], "", { nodeFlags: flags, sandboxerArgs: ["--log-level", "info"] });
    const start_ms: number[] = [];
    const ids: string[] = [];
    // One warm-up pod (image unpack, first exec of every binary), not counted.
    for (let i = 0; i <= pods; i++) {
      const cfg = podConfig(`fp-${i}`, join(env.dir, "logs", String(i)));
      const t0 = now();
      ids.push((await runPod(env.cri, HANDLER, cfg, [shContainer("c", "exec sleep 1000")])).podId);
      if (i > 0) start_ms.push(now() - t0);
    }
    const pid = env.sandboxer.pid;
    process.kill(pid, "SIGUSR2");
    await new Promise((r) => setTimeout(r, 1000));
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    // Stopped through CRI, so the pods' addresses go back to the (shared) IPAM range.
    for (const podSandboxId of ids) {
      await env.cri.runtime.stopPodSandbox({ podSandboxId });
      await env.cri.runtime.removePodSandbox({ podSandboxId });
    }
    return { pss_kb: field(rollup, "Pss"), pss_anon_kb: field(rollup, "Pss_Anon"), start_ms };
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

async function main(pods: number, rounds: number, names: readonly string[]): Promise<void> {
  const samples = new Map<string, Sample[]>(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const s = await once(CANDIDATES[name] ?? [], pods);
      samples.get(name)?.push(s);
      process.stderr.write(`round ${r} ${name}: pss ${(s.pss_kb / 1024).toFixed(1)} MB, start median ${quantile(s.start_ms, 0.5).toFixed(0)} ms\n`);
    }
  }
  const out: Record<string, unknown> = { pods, rounds };
  for (const [name, list] of samples) {
    out[name] = {
      flags: CANDIDATES[name],
      pss_mb: Math.round(quantile(list.map((s) => s.pss_kb), 0.5) / 102.4) / 10,
      pss_anon_mb: Math.round(quantile(list.map((s) => s.pss_anon_kb), 0.5) / 102.4) / 10,
      start_ms_median: Math.round(quantile(list.flatMap((s) => s.start_ms), 0.5)),
      start_ms_p90: Math.round(quantile(list.flatMap((s) => s.start_ms), 0.9)),
    };
  }
  process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
}

async function parallel(pods: number, rounds: number): Promise<void> {
  const cleanups: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as TestContext;
  const log = `/tmp/kuasard-phases-${process.pid}.jsonl`;
  try {
    const env = await containerd2WithKuasar(t, ["runc"], "", { topConfig: `phase_log = "${log}"`, sandboxerArgs: ["--log-level", "info"] });
    const ctx = { cri: env.cri, runtimeHandler: HANDLER, container: sleepContainer(), logRoot: join(env.dir, "logs"), callTimeoutMs: 120_000 };
    await serialIteration(ctx, 0, true);
    const from = Date.now();
    const samples = [];
    for (let r = 0; r < rounds; r++) {
      const round = await parallelRound(ctx, r, pods, 8);
      process.stderr.write(`round ${r}: ${round.total_ms} ms\n`);
      samples.push(...round.samples);
    }
    const inside = daemonPhases(readFileSync(log, "utf8"), { serial: [0, from], parallel: [from, Date.now()] });
    process.stdout.write(`${JSON.stringify({ pods, rounds, client: criPhaseMedians(samples), kuasard: inside.parallel, warmup_serial: inside.serial }, null, 1)}\n`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

const args = process.argv.slice(2);
if (process.env[ISOLATION_ENV] !== "1") process.exit(await reexecIsolated(fileURLToPath(import.meta.url), args));
await setupIsolation();
if (args[0] === "parallel") {
  await parallel(Number(args[1] ?? 20), Number(args[2] ?? 2));
} else {
  const [pods = "20", rounds = "2", list] = args;
  await main(Number(pods), Number(rounds), list ? list.split(",") : Object.keys(CANDIDATES));
}
process.exit(0);
