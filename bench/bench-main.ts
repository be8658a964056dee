/**
 * `npm run bench [-- --quick] [--only ID,...] [--out DIR]`, `npm run bench -- --render` and
 * `npm run bench -- --readme`.
 *
 * A measuring run happens in three processes, like the e2e runner (`test/run.ts`):
 * 1. outside: re-executes itself as pid 1 of fresh mount/pid/net/uts/ipc namespaces
 *    (`reexecIsolated`), then prints the total runtime;
 * 2. pid 1 inside: private mounts, tmpfs over /run/containerd, /run/netns, /var/lib/cni,
 *    /run/kuasar (`setupIsolation`), then runs the worker under `tini -s` (shims and holders
 *    daemonise and must be reaped by a subreaper, which a Node pid 1 cannot be);
 * 3. the worker: runs every configuration, writes bench-results/, prints the table.
 * Everything left inside dies with pid 1; nothing outside is touched.
 *
 * A run exits 1 when the baseline, a requested configuration or the requested VM section
 * did not run (not available or failed): its results then go to `bench-results/failed/`,
 * never over `latest.*` (`finish-run.ts`). A run of some configurations (`--only`, without
 * `--out`) goes to `bench-results/partial/`. README.md and docs/benchmarks.md are rewritten
 * only with `--readme`, and only from a complete run of every configuration.
 *
 * `--render` re-renders latest.md and the SVGs from latest.json (no isolation, no root), and
 * with `--readme` the marked sections of README.md and docs/benchmarks.md too.
 *
 * @internal benchmark, not part of the runtime
 */
import { spawn } from "node:child_process";
import { access } from "node:fs/promises";
import { constants } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ISOLATION_ENV, reexecIsolated, setupIsolation } from "../testing/isolation.js";
import { quickBenchOptions, resolveBenchOptions, type BenchOptions } from "./bench-options.js";
import { benchConfigurations } from "./configurations.js";
import { runBenchmark } from "./run-benchmark.js";
import { finishRun, PARTIAL_RUN_DIR, VMM_SECTION_ID } from "./finish-run.js";
import { readResults, RESULTS_JSON } from "./write-results.js";

/** Set (to "1") for the worker process inside the isolation. */
export const BENCH_WORKER_ENV = "KUASAR_BENCH_WORKER";

const usage = `usage: npm run bench -- [--quick] [--only ID,...] [--out DIR] [--readme]
                         [--iterations N] [--vmm-iterations N] [--parallel-pods N] [--pod-counts N,N,...]   (override the preset)
       npm run bench -- --render [--readme] [--from FILE] [--out DIR]   (latest.md and SVGs from the JSON)
--readme: also rewrite the benchmark sections of README.md and docs/benchmarks.md (complete runs only).
Exit status 1 when the baseline, a requested configuration or the VM section could not run;
that run's results go to <out>/failed/, never over latest.*.
configurations: ${benchConfigurations()
  .map((c) => c.id)
  .join(", ")}
sections: ${VMM_SECTION_ID} (VM pods of the vmm sandboxer; \`--only ${VMM_SECTION_ID}\` runs it alone)
`;

const mainScript = fileURLToPath(new URL("./main.js", import.meta.url));

export interface BenchArgs {
  readonly options: BenchOptions;
  readonly render: boolean;
  readonly from: string;
}

export function parseBenchArgs(argv: readonly string[]): BenchArgs | undefined {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: "boolean" },
      only: { type: "string" },
      out: { type: "string" },
      render: { type: "boolean" },
      readme: { type: "boolean" },
      from: { type: "string" },
      iterations: { type: "string" },
      "vmm-iterations": { type: "string" },
      "parallel-pods": { type: "string" },
      "pod-counts": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help === true) return undefined;
  const overrides: { -readonly [K in keyof BenchOptions]?: BenchOptions[K] } = {};
  if (values.only !== undefined) overrides.only = values.only.split(",").filter((s) => s !== "");
  if (values.out !== undefined) overrides.resultsDir = resolve(values.out);
  // A run of some configurations is not the committed comparison: it goes apart, and the documents stay.
  const partial = (overrides.only ?? []).length > 0 && values.render !== true;
  if (partial && values.out === undefined) overrides.resultsDir = join(quickBenchOptions().resultsDir, PARTIAL_RUN_DIR);
  overrides.updateReadme = values.readme === true && !partial;
  if (values.iterations !== undefined) overrides.serialIterations = Number(values.iterations);
  if (values["vmm-iterations"] !== undefined) overrides.vmmIterations = Number(values["vmm-iterations"]);
  if (values["parallel-pods"] !== undefined) overrides.parallelPods = Number(values["parallel-pods"]);
  if (values["pod-counts"] !== undefined) overrides.podCounts = values["pod-counts"].split(",").map(Number);
  const options = resolveBenchOptions(values.quick === true ? "quick" : "full", overrides);
  return { options, render: values.render === true, from: resolve(values.from ?? join(options.resultsDir, RESULTS_JSON)) };
}

function logger(): (line: string) => void {
  const t0 = performance.now();
  return (line) => console.error(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`);
}

async function worker(args: BenchArgs): Promise<number> {
  const log = logger();
  const all = benchConfigurations();
  const only = args.options.only;
  const unknown = only.filter((id) => id !== VMM_SECTION_ID && !all.some((c) => c.id === id));
  if (unknown.length > 0) {
    console.error(`bench: unknown configuration(s) ${unknown.join(", ")}\n${usage}`);
    return 2;
  }
  // `--only vmm` alone: just the VM section (no baseline, nothing heavy).
  const vmmOnly = only.length > 0 && only.every((id) => id === VMM_SECTION_ID);
  const withVmm = only.length === 0 || only.includes(VMM_SECTION_ID);
  const chosen = vmmOnly ? [] : all.filter((c) => c.role === "baseline" || only.length === 0 || only.includes(c.id));
  log(`${args.options.mode} run: ${[...chosen.map((c) => c.id), ...(withVmm ? [VMM_SECTION_ID] : [])].join(", ")}`);
  const results = await runBenchmark(chosen, args.options, log, withVmm);
  const finished = await finishRun(results, { ...args.options, fresh: true }, (line) => console.error(line));
  console.log(finished.markdown);
  return finished.exitCode;
}

/** pid 1 of the namespaces: isolate, then run the worker under `tini -s`. */
async function isolatedInit(argv: readonly string[]): Promise<number> {
  await setupIsolation();
  const tini = process.env["TINI_BIN"] ?? "/usr/bin/tini";
  const haveTini = await access(tini).then(
    () => true,
    () => false,
  );
  if (!haveTini) console.error(`bench: ${tini} missing (run packaging/install-deps.sh); orphaned shims will stay zombies`);
  const cmd = [process.execPath, mainScript, ...argv];
  const [file, ...rest] = haveTini ? [tini, "-s", "--", ...cmd] : cmd;
  const child = spawn(file as string, rest, { stdio: "inherit", env: { ...process.env, [BENCH_WORKER_ENV]: "1" } });
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  return new Promise((resolvePromise, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => resolvePromise(code ?? 128 + (signal !== null ? constants.signals[signal] : 0)));
  });
}

/** The whole command; resolves to the exit code. */
export async function benchMain(argv: readonly string[]): Promise<number> {
  let args: BenchArgs | undefined;
  try {
    args = parseBenchArgs(argv);
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}\n${usage}`);
    return 2;
  }
  if (args === undefined) {
    console.log(usage);
    return 0;
  }
  if (args.render) {
    const finished = await finishRun(await readResults(args.from), { ...args.options, fresh: false }, (line) => console.error(line));
    return finished.exitCode;
  }
  if (process.env[BENCH_WORKER_ENV] === "1") return worker(args);
  if (process.env[ISOLATION_ENV] === "1" && process.pid === 1) return isolatedInit(argv);
  if (process.getuid?.() !== 0) {
    console.error("bench: must run as root (it starts containerd, runc and pods inside private namespaces)");
    return 1;
  }
  const t0 = performance.now();
  const code = await reexecIsolated(mainScript, argv);
  console.error(`bench: total runtime ${((performance.now() - t0) / 1000).toFixed(1)} s (exit ${code})`);
  return code;
}
