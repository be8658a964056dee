/**
 * Times `<shim> -namespace NS -address ADDR -publish-binary CONTAINERD -id ID start` the
 * way containerd 1.7 runs it (protocols.md §3.2: cwd = a bundle dir holding config.json,
 * stdin /dev/null when there are no runtime options, containerd's environment plus
 * `TTRPC_ADDRESS`, `GRPC_ADDRESS`, `NAMESPACE`, `MAX_SHIM_VERSION`, `GOMAXPROCS`, own
 * process group): from spawn until the process exited **and** its output pipes closed,
 * which is what containerd waits for.
 *
 * @internal benchmark, not part of the runtime
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { ShimLauncher } from "./bench-configuration.js";
import type { ShimStartSample } from "./results.js";

/** Options of {@link shimStartOnce}. */
export interface ShimStartOptions {
  /** containerd namespace (`-namespace`). Default `k8s.io`. */
  readonly namespace: string;
  /** Parent of the per-execution bundle dirs. */
  readonly dir: string;
  /** Kill a `start` that takes longer, ms. Default 30000. */
  readonly timeoutMs: number;
}

/** Exit code, combined output and wall time of one execution. */
export interface TimedExec {
  readonly code: number | null;
  readonly output: string;
  readonly ms: number;
}

/** Spawns `file args` and times it until exit with stdout and stderr closed. */
export function timeExec(file: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<TimedExec> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (output += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (output += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
    child.once("error", (err) => {
      clearTimeout(timer);
      resolve({ code: null, output: err.message, ms: performance.now() - t0 });
    });
    child.once("close", (code) => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      resolve({ code, output, ms });
    });
  });
}

/**
 * The socket path in what a shim's `start` printed: a plain `unix://` address (what runc-v2
 * 1.7 and our launcher print) or the JSON form (`version` 2 for 1.7; `version` 3 is what
 * 2.x shims print and only containerd 2.x accepts, so it counts only when `allowV3`).
 * undefined when the output is not an address.
 */
export function shimSocketPath(out: string, allowV3: boolean): string | undefined {
  const s = out.trim();
  const plain = /^unix:\/\/(\/\S+)$/.exec(s);
  if (plain !== null) return plain[1];
  try {
    const j = JSON.parse(s) as { version?: unknown; address?: unknown };
    if (typeof j.address !== "string" || !(j.version === 2 || (allowV3 && j.version === 3))) return undefined;
    return /^unix:\/\/(\/\S+)$/.exec(j.address)?.[1] ?? (j.address.startsWith("/") ? j.address : undefined);
  } catch {
    return undefined;
  }
}

/** The argv containerd 1.7 passes to `start` for task `id` (after the binary). */
export function shimStartArgv(launcher: ShimLauncher, namespace: string, id: string): string[] {
  return ["-namespace", namespace, "-address", launcher.containerdAddress, "-publish-binary", launcher.publishBinary, "-id", id, "start"];
}

/** One timed `start` in a fresh bundle under `o.dir`, cleaned up afterwards. */
export async function shimStartOnce(launcher: ShimLauncher, i: number, warmup: boolean, options: Partial<ShimStartOptions> & Pick<ShimStartOptions, "dir">): Promise<ShimStartSample> {
  const o: ShimStartOptions = { namespace: "k8s.io", timeoutMs: 30_000, ...options };
  const env: NodeJS.ProcessEnv = {
    ...launcher.env,
    GOMAXPROCS: "2",
    MAX_SHIM_VERSION: "2",
    TTRPC_ADDRESS: launcher.containerdTtrpcAddress,
    GRPC_ADDRESS: launcher.containerdAddress,
    NAMESPACE: o.namespace,
  };
  const id = `bench-shim-${i}-${randomBytes(4).toString("hex")}`;
  const bundle = join(o.dir, id);
  await mkdir(bundle, { recursive: true });
  await writeFile(join(bundle, "config.json"), JSON.stringify({ ociVersion: "1.1.0", annotations: {} }));
  const r = await timeExec(launcher.binary, shimStartArgv(launcher, o.namespace, id), { cwd: bundle, env, timeoutMs: o.timeoutMs });
  const output = r.output.trim();
  const ok = r.code === 0 && shimSocketPath(output, launcher.acceptsVersion3) !== undefined;
  await launcher.cleanup(bundle, id, output);
  await rm(bundle, { recursive: true, force: true });
  return { warmup, ok, ms: Math.round(r.ms * 1000) / 1000, output: ok ? output : `exit ${r.code}: ${output}` };
}

/** Median-ready samples of spawning `/bin/true` the same way: the floor under any `start`. */
export async function measureSpawnFloor(iterations: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < iterations + 1; i++) {
    const r = await timeExec("/bin/true", []);
    if (i > 0) out.push(r.ms);
  }
  return out;
}
