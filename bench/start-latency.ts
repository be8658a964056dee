/**
 * Start latency: serial iterations (one pod at a time, removed before the next) and parallel
 * rounds (P pods at once, wall time until the last container is RUNNING). One iteration or
 * round at a time, so the run can interleave configurations.
 *
 * @internal benchmark, not part of the runtime
 */
import { performance } from "node:perf_hooks";
import { removeAllPods, removePod, startTimedPod, type PodStartContext } from "./pod-workload.js";
import type { ParallelRound, PodStartSample } from "./results.js";

/**
 * One serial iteration: start a pod (timed), then stop and remove it (not timed). A failed
 * start is returned as a sample; a failed removal throws (the next sample would not start
 * from the same state).
 */
export async function serialIteration(ctx: PodStartContext, i: number, warmup: boolean): Promise<PodStartSample> {
  const s = await startTimedPod(ctx, `serial-${i}`, warmup, performance.now());
  if (s.pod_sandbox_id !== null) await removePod(ctx.cri, s.pod_sandbox_id, ctx.callTimeoutMs);
  return s;
}

/** One parallel round: start `pods` pods at once, time the round, then remove every pod (throws if that fails). */
export async function parallelRound(ctx: PodStartContext, round: number, pods: number, teardownConcurrency: number): Promise<ParallelRound> {
  const t0 = performance.now();
  const samples = await Promise.all(Array.from({ length: pods }, (_, i) => startTimedPod(ctx, `parallel-${round}-${i}`, false, t0)));
  const failed = samples.some((s) => !s.ok);
  const total = failed ? null : Math.max(...samples.map((s) => s.offset_ms + (s.total_ms ?? 0)));
  const t1 = performance.now();
  const errors = await removeAllPods(ctx.cri, teardownConcurrency, ctx.callTimeoutMs);
  if (errors.length > 0) throw new Error(`teardown after parallel round ${round}: ${errors.join("; ")}`);
  return { round, pods, total_ms: total === null ? null : Math.round(total * 1000) / 1000, teardown_ms: Math.round(performance.now() - t1), samples };
}
