/**
 * The workload every configuration runs: a pod (own network namespace via CNI) with one
 * container (busybox sleeping for the runc-style configurations, a blocking WASI module for
 * the wasm ones, see `wasm-workload.ts`), started through CRI exactly as kubelet would, with
 * each phase timed.
 *
 * @internal benchmark, not part of the runtime
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ContainerState, type ContainerConfigSchema } from "../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { BUSYBOX_IMAGE } from "../testing/busybox-image.js";
import { podConfig } from "../testing/cri-pod.js";
import type { CriClient } from "../testing/cri.js";
import { mapLimit } from "./map-limit.js";
import type { ProcessInfo } from "../testing/process-table.js";
import type { PodStartSample } from "./results.js";

/** A CRI container config. */
export type ContainerConfigInit = MessageInitShape<typeof ContainerConfigSchema>;

/** argv of {@link sleepContainer}'s process. */
const SLEEP_COMMAND = ["/bin/sleep", "86400"] as const;

/** The workload container: busybox `sleep` as the only process (no shell left behind). */
export function sleepContainer(): ContainerConfigInit {
  return {
    metadata: { name: "app", attempt: 0 },
    image: { image: BUSYBOX_IMAGE },
    command: [...SLEEP_COMMAND],
    logPath: "app.log",
  };
}

/** Role of a runc container's own process in the memory snapshots. */
export const SLEEP_CONTAINER_ROLE = "container process (busybox sleep)";

/**
 * {@link SLEEP_CONTAINER_ROLE} when `p` is the process of a {@link sleepContainer} (its argv
 * is exactly the container's command; the stand-in pause runs `sleep infinity`), else undefined.
 */
export function sleepContainerRole(p: ProcessInfo): string | undefined {
  return p.cmdline.length === SLEEP_COMMAND.length && SLEEP_COMMAND.every((a, i) => p.cmdline[i] === a) ? SLEEP_CONTAINER_ROLE : undefined;
}

/** Where and how {@link startTimedPod} runs. */
export interface PodStartContext {
  readonly cri: CriClient;
  readonly runtimeHandler: string;
  readonly container: ContainerConfigInit;
  /** Parent of the pods' CRI log directories. */
  readonly logRoot: string;
  /** Deadline of each CRI call, ms. */
  readonly callTimeoutMs: number;
}

const ms = (from: number, to: number): number => Math.round((to - from) * 1000) / 1000;

/**
 * RunPodSandbox, CreateContainer, StartContainer, then ContainerStatus until RUNNING, each
 * timed; never throws (a failure is a sample with `ok: false` and whatever ids it got).
 * `phaseStart` is the `performance.now()` the sample's `offset_ms` is relative to.
 */
export async function startTimedPod(ctx: PodStartContext, name: string, warmup: boolean, phaseStart: number): Promise<PodStartSample> {
  const opts = { timeoutMs: ctx.callTimeoutMs };
  const config = podConfig(name, join(ctx.logRoot, name));
  const t0 = performance.now();
  let podId: string | null = null;
  let containerId: string | null = null;
  const marks: number[] = [t0];
  try {
    podId = (await ctx.cri.runtime.runPodSandbox({ config, runtimeHandler: ctx.runtimeHandler }, opts)).podSandboxId;
    marks.push(performance.now());
    containerId = (await ctx.cri.runtime.createContainer({ podSandboxId: podId, config: ctx.container, sandboxConfig: config }, opts)).containerId;
    marks.push(performance.now());
    await ctx.cri.runtime.startContainer({ containerId }, opts);
    marks.push(performance.now());
    const until = performance.now() + ctx.callTimeoutMs;
    for (;;) {
      const { status } = await ctx.cri.runtime.containerStatus({ containerId }, opts);
      if (status?.state === ContainerState.CONTAINER_RUNNING) break;
      if (status?.state === ContainerState.CONTAINER_EXITED) throw new Error(`container exited (code ${status.exitCode}): ${status.reason} ${status.message}`);
      if (performance.now() > until) throw new Error(`container still ${status?.state} after ${ctx.callTimeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
    marks.push(performance.now());
  } catch (err) {
    return {
      name,
      warmup,
      ok: false,
      error: err instanceof Error ? err.message : String(err),
      offset_ms: ms(phaseStart, t0),
      run_pod_sandbox_ms: marks.length > 1 ? ms(marks[0] as number, marks[1] as number) : null,
      create_container_ms: marks.length > 2 ? ms(marks[1] as number, marks[2] as number) : null,
      start_container_ms: marks.length > 3 ? ms(marks[2] as number, marks[3] as number) : null,
      until_running_ms: null,
      total_ms: null,
      pod_sandbox_id: podId,
      container_id: containerId,
    };
  }
  const [a, b, c, d, e] = marks as [number, number, number, number, number];
  return {
    name,
    warmup,
    ok: true,
    error: null,
    offset_ms: ms(phaseStart, a),
    run_pod_sandbox_ms: ms(a, b),
    create_container_ms: ms(b, c),
    start_container_ms: ms(c, d),
    until_running_ms: ms(d, e),
    total_ms: ms(a, e),
    pod_sandbox_id: podId,
    container_id: containerId,
  };
}

/** StopPodSandbox + RemovePodSandbox (not timed). Throws on failure. */
export async function removePod(cri: CriClient, podSandboxId: string, callTimeoutMs: number): Promise<void> {
  await cri.runtime.stopPodSandbox({ podSandboxId }, { timeoutMs: callTimeoutMs });
  await cri.runtime.removePodSandbox({ podSandboxId }, { timeoutMs: callTimeoutMs });
}

/** Removes every pod the CRI lists (teardown between phases); returns the errors it met. */
export async function removeAllPods(cri: CriClient, concurrency: number, callTimeoutMs: number): Promise<string[]> {
  const { items } = await cri.runtime.listPodSandbox({}, { timeoutMs: callTimeoutMs });
  const errors: string[] = [];
  await mapLimit(items, concurrency, async (p) => {
    await removePod(cri, p.id, callTimeoutMs).catch((err: unknown) => errors.push(`${p.id}: ${err instanceof Error ? err.message : String(err)}`));
  });
  return errors;
}
