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
 * `idle`: as the benchmark's memory point (no forced GC): `pods` pods started 4 at a time (after a
 * serial warm-up and 20 serial starts, which give kuasard's CPU time per pod start),
 * a 2 s settle, then kuasard's PSS, its anonymous memory by kind of mapping (malloc heap, V8's
 * pages, thread stacks), its thread count, and the same after a full GC (SIGUSR2), per candidate.
 * Candidates may set environment variables (`env:` prefix, e.g. UV_THREADPOOL_SIZE).
 *
 * `parallel`: one environment (kuasard with its `phase_log`), `rounds` rounds of `pods` pods
 * started at once through containerd 2.x, as the benchmark's parallel rounds; prints the CRI
 * phases as the client saw them and kuasard's own steps (medians per round window), to find
 * where concurrent calls wait on each other.
 */
import { readdirSync, readFileSync } from "node:fs";
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
  "semi-1+old-64": ["--max-semi-space-size=1", "--max-old-space-size=64"],
  "semi-1+single-gc": ["--max-semi-space-size=1", "--single-threaded-gc"],
  "semi-1+pool-0": ["--max-semi-space-size=1", "--v8-pool-size=0"],
  "semi-1+arena-2": ["--max-semi-space-size=1", "env:MALLOC_ARENA_MAX=2"],
  "semi-1+uv-2": ["--max-semi-space-size=1", "env:UV_THREADPOOL_SIZE=2"],
  "semi-1+no-opt": ["--max-semi-space-size=1", "--no-opt"],
  "semi-1+sparkplug-off": ["--max-semi-space-size=1", "--no-sparkplug"],
  // Baseline code (Sparkplug) but no optimizing tier: V8's interpreter made each call's own JS
  // (protobuf, path and fs argument checks) most of a wasm container's Create in lite mode.
  "semi-1+sparkplug-only": ["--max-semi-space-size=1", "--max-opt=1", "--optimize-for-size"],
  // Where the time and the memory go: a CPU profile of the whole run (written when kuasard exits)
  // and a heap snapshot at the memory point, both under /tmp/kuasard-diag.
  "semi-1+profile": ["--max-semi-space-size=1", "--cpu-prof", "--heapsnapshot-signal=SIGWINCH", "--diagnostic-dir=/tmp/kuasard-diag"],
};

/** Node flags and environment variables of a candidate (`env:NAME=value` entries are the latter). */
function splitCandidate(list: readonly string[]): { flags: string[]; env: Record<string, string> } {
  const flags = list.filter((f) => !f.startsWith("env:"));
  const env = Object.fromEntries(list.filter((f) => f.startsWith("env:")).map((f) => f.slice(4).split("=", 2) as [string, string]));
  return { flags, env };
}

/** Runs `fn` with the candidate's environment variables set (the daemon inherits them at spawn). */
async function withEnv<T>(c: { flags: string[]; env: Record<string, string> }, fn: (flags: string[]) => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(c.env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, c.env);
  try {
    return await fn(c.flags);
  } finally {
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  }
}

/** CPU time (user + system) `pid` has used, ms. */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** Anonymous resident memory of `pid` by kind of mapping, KiB (from /proc/<pid>/smaps). */
function anonByMapping(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let kind = "";
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const size = (parseInt(head[2]!, 16) - parseInt(head[1]!, 16)) / 1024;
      const name = head[3] ?? "";
      // Thread stacks are 8 MiB (+ guard) anonymous mappings; glibc arenas reserve 64 MiB; V8's
      // pages are 256 KiB chunks inside larger reservations: by size is the best /proc can say.
      kind = name === "" ? (size === 8192 ? "anon 8M (thread stacks)" : size >= 65536 - 4096 && size <= 65536 ? "anon 64M (malloc arenas)" : "anon other (V8 heap, mmap)") : name.startsWith("/") ? "file" : name;
      continue;
    }
    const a = /^Anonymous:\s+(\d+)/.exec(line);
    if (a) out[kind] = (out[kind] ?? 0) + Number(a[1]);
  }
  return out;
}

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
      const s = await withEnv(splitCandidate(CANDIDATES[name] ?? []), (flags) => once(flags, pods));
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

async function idle(pods: number, rounds: number, names: readonly string[]): Promise<void> {
  const results: Record<string, unknown[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const name of r % 2 === 0 ? names : [...names].reverse()) {
      const cleanups: (() => unknown)[] = [];
      const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as TestContext;
      const { flags, env } = splitCandidate(CANDIDATES[name] ?? []);
      const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
      Object.assign(process.env, env);
      try {
        const started = containerd2WithKuasar(t, ["runc"], "", { nodeFlags: flags, sandboxerArgs: ["--log-level", "info"] });
        const e = await started;
        for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
        const ids: string[] = [];
        const start_ms: number[] = [];
        let cpuFrom = 0;
        const serial = Math.min(pods, 20);
        for (let i = 0; i <= serial; i++) {
          if (i === 1) cpuFrom = cpuMs(e.sandboxer.pid);
          const t0 = now();
          ids.push((await runPod(e.cri, HANDLER, podConfig(`s-${i}`, join(e.dir, "logs", `s${i}`)), [shContainer("c", "exec sleep 1000")])).podId);
          if (i > 0) start_ms.push(now() - t0);
        }
        const cpuPerPodMs = (cpuMs(e.sandboxer.pid) - cpuFrom) / serial;
        for (const podSandboxId of ids.splice(0)) {
          await e.cri.runtime.stopPodSandbox({ podSandboxId });
          await e.cri.runtime.removePodSandbox({ podSandboxId });
        }
        let next = 0;
        await Promise.all(
          [0, 1, 2, 3].map(async () => {
            while (next < pods) {
              const i = next++;
              ids.push((await runPod(e.cri, HANDLER, podConfig(`m-${i}`, join(e.dir, "logs", `m${i}`)), [shContainer("c", "exec sleep 1000")])).podId);
            }
          }),
        );
        await new Promise((res) => setTimeout(res, 2000));
        const pid = e.sandboxer.pid;
        const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
        const sample = {
          pss_mb: field(rollup, "Pss") / 1024,
          pss_anon_mb: field(rollup, "Pss_Anon") / 1024,
          threads: readdirSync(`/proc/${pid}/task`).length,
          anon_kb: anonByMapping(pid),
          start_ms_median: quantile(start_ms, 0.5),
          // kuasard's own CPU (user + system) per serial pod start: what a flag costs, whatever the host's load.
          cpu_ms_per_pod: cpuPerPodMs,
          after_gc_pss_mb: 0,
        };
        if (flags.some((f) => f.startsWith("--heapsnapshot-signal"))) {
          process.kill(pid, "SIGWINCH");
          await new Promise((res) => setTimeout(res, 15_000)); // written synchronously by the daemon
        }
        process.kill(pid, "SIGUSR2");
        await new Promise((res) => setTimeout(res, 1000));
        sample.after_gc_pss_mb = field(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"), "Pss") / 1024;
        const memLine = e.sandboxer.logs().split("\n").filter((l) => l.includes('"msg":"memory"')).at(-1);
        (sample as Record<string, unknown>)["memory_log"] = memLine ? JSON.parse(memLine) : null;
        process.stderr.write(`round ${r} ${name}: ${JSON.stringify(sample)}\n`);
        (results[name] ??= []).push(sample);
        for (const podSandboxId of ids) {
          await e.cri.runtime.stopPodSandbox({ podSandboxId });
          await e.cri.runtime.removePodSandbox({ podSandboxId });
        }
      } finally {
        for (const fn of cleanups.reverse()) await fn();
      }
    }
  }
  process.stdout.write(`${JSON.stringify(results, null, 1)}\n`);
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
if (args[0] === "idle") {
  await idle(Number(args[1] ?? 50), Number(args[2] ?? 1), (args[3] ?? "semi-1").split(","));
} else if (args[0] === "parallel") {
  await parallel(Number(args[1] ?? 20), Number(args[2] ?? 2));
} else {
  const [pods = "20", rounds = "2", list] = args;
  await main(Number(pods), Number(rounds), list ? list.split(",") : Object.keys(CANDIDATES));
}
process.exit(0);
