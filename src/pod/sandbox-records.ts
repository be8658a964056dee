import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { validateId } from "../sandbox/id.js";
import { validatePodSysctls } from "../sandbox/pod-sysctls.js";
import { podSysctlsToApply } from "../sandbox/pod-sysctls-applied.js";
import type { PodResources, SandboxCreateRequest, SandboxStatus, SandboxUpdate } from "../sandbox/sandboxer.js";
import type { CgroupStats } from "../task/task-backend.js";
import { explainFullDisk } from "../fs/disk-full.js";
import { applyPodResources } from "../cgroup/pod-cgroup.js";
import { Container } from "./container.js";
import { interruptedStartRecord, podDirIds, rederivedRecord } from "./leftover-pod.js";
import type { Pod } from "./pod.js";
import { writePodFiles } from "./pod-files.js";
import type { PodRuntime } from "./pod-runtime.js";
import type { SandboxTasks } from "./sandbox-tasks.js";
import type { SandboxRecord } from "./records.js";

/**
 * PodSandboxer's record helpers (it owns the sandbox records; nothing else calls
 * these): Create's checks and first record, Wait, Update, Status, the reload of
 * records after a restart, summed container metrics.
 */

/** Validates a Create, makes the pod dir with its files and stores the first record; undoes it all on failure. */
export function createSandboxRecord(ctx: PodRuntime, req: SandboxCreateRequest, checks: () => void, addPod: (r: SandboxRecord) => Pod): void {
  const id = validateId("sandbox", req.id);
  if (ctx.pods.has(id) || ctx.sandboxes.has(id)) throw new RuntimeError(Code.AlreadyExists, `sandbox ${id} already exists`);
  if (req.netnsPath && !existsSync(req.netnsPath)) throw new RuntimeError(Code.InvalidArgument, `sandbox ${id}: network namespace ${req.netnsPath} does not exist`);
  checkHostname(req.pod?.hostname ?? "");
  if (req.pod) validatePodSysctls(podSysctlsToApply(req.pod), { hostNetwork: req.pod.hostNetwork || req.netnsPath === "", hostIpc: req.pod.hostIpc });
  checks();
  const dir = ctx.podDir(id);
  try {
    // 0700: host users must not reach the pod's files or its /dev/shm (containers see them through bind mounts).
    mkdirSync(dir, { recursive: false, mode: 0o700 });
    writePodFiles(dir, req.pod, (p) => readFileSync(p, "utf8"));
    const record: SandboxRecord = {
      id,
      namespace: req.namespace,
      netnsPath: req.netnsPath,
      pod: req.pod,
      annotations: req.annotations,
      labels: req.labels,
      state: "created",
      createdAt: new Date().toISOString(),
      exitedAt: undefined,
      exitStatus: 0,
      holderPid: 0,
      podPid: 0,
      shmMounted: false,
      standalone: req.standalone,
      ...(req.ownNetwork ? { ownNetwork: true } : {}),
    };
    ctx.sandboxes.put(id, record);
    addPod(record).log.debug({ netns: req.netnsPath || "host" }, "sandbox created");
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    ctx.sandboxes.delete(id);
    throw explainFullDisk(err, ctx.options.dir);
  }
}

/** Longest hostname the kernel takes (HOST_NAME_MAX). */
const MAX_HOSTNAME_BYTES = 64;

/** A pod hostname the kernel would refuse is bad input, refused before anything is made. */
function checkHostname(hostname: string): void {
  const n = Buffer.byteLength(hostname);
  if (n > MAX_HOSTNAME_BYTES) throw new RuntimeError(Code.InvalidArgument, `hostname: ${n} bytes, longer than ${MAX_HOSTNAME_BYTES}`);
}

/** The pod `id`, or NotFound. */
export function podOf(ctx: PodRuntime, id: string): Pod {
  const pod = ctx.pods.get(id);
  if (!pod) throw new RuntimeError(Code.NotFound, `sandbox ${id} not found`);
  return pod;
}

/** Resolves when the pod has stopped, with its exit; rejects when `signal` aborts. */
export async function waitStopped(pod: Pod, signal: AbortSignal): Promise<{ exitStatus: number; exitedAt: Date }> {
  await Promise.race([
    pod.stopped(),
    new Promise((_r, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    }),
  ]);
  return { exitStatus: pod.record.exitStatus, exitedAt: new Date(pod.record.exitedAt ?? Date.now()) };
}

/**
 * Applies a sandbox Update: resources to the pod cgroup first (a pod without one,
 * or not running, refuses them and nothing changes), then labels, Kuasar's
 * `extensions.tasks` and the new resources to the record. `hostResources` maps
 * the pod's resources to its cgroup's (a VM pod's memory covers its guest's
 * RAM); it may refuse a change with an error.
 */
export function updateSandboxRecord(ctx: PodRuntime, pod: Pod, change: SandboxUpdate, hostResources: (r: PodResources) => PodResources = (r) => r): void {
  const r = pod.record;
  if (change.resources) {
    if (!r.cgroupPath) {
      throw new RuntimeError(Code.FailedPrecondition, `sandbox ${pod.id}: no pod cgroup (the pod was made without a cgroup_parent, or its kind has none): resources cannot be applied`);
    }
    if (r.state !== "ready") throw new RuntimeError(Code.FailedPrecondition, `sandbox ${pod.id} is ${r.state}: resources cannot be applied`);
    applyPodResources(r.cgroupPath, hostResources(change.resources));
    if (r.pod) r.pod = { ...r.pod, resources: change.resources };
  }
  if (change.fields.length === 0 || change.fields.includes("labels")) r.labels = { ...change.labels };
  if (change.tasksExtension !== undefined) r.tasksExtension = change.tasksExtension;
  ctx.sandboxes.put(pod.id, r);
}

/** Key of Status `info` that carries Kuasar's `extensions.tasks` as the last Update gave it. */
export const TASKS_EXTENSION_INFO_KEY = "extensions.tasks";

/** A sandbox as Start and Status report it, with the sandboxer's `info` entries. */
export function sandboxStatus(ctx: PodRuntime, r: SandboxRecord, info: Record<string, string>): SandboxStatus {
  return {
    id: r.id,
    state: r.state,
    pid: r.state === "ready" ? r.podPid : 0,
    createdAt: new Date(r.createdAt),
    exitedAt: r.exitedAt ? new Date(r.exitedAt) : undefined,
    exitStatus: r.exitStatus,
    taskAddress: ctx.options.taskAddress,
    taskApiVersion: 3,
    labels: { ...r.labels },
    info: r.tasksExtension !== undefined ? { ...info, [TASKS_EXTENSION_INFO_KEY]: r.tasksExtension } : info,
  };
}

/** What {@link recoverRecords} found. */
export interface RecoveredPods {
  /** Pods whose record said ready (re-attached when their holder answered). */
  ready: Pod[];
  /**
   * Pods no good record owns (a damaged or missing record, a Start the daemon
   * died in, containers of a pod that is gone), re-derived from their dirs to
   * be taken down: containerd never learnt of them, or cannot reach them any more.
   */
  leftovers: Pod[];
  /** Pods created by the previous daemon and not started: containerd may still start them. */
  created: Pod[];
}

/**
 * Reloads every record after a restart: pods first (each re-attached by
 * `reattach` when it should be running), then their containers. What no good
 * record owns is re-derived from the pod dirs and returned as leftovers, with
 * the containers recorded in them, so Stop and Shutdown can take it all down.
 */
export async function recoverRecords(ctx: PodRuntime, tasks: SandboxTasks, addPod: (r: SandboxRecord) => Pod, reattach: (pod: Pod) => Promise<void>): Promise<RecoveredPods> {
  const log = ctx.log;
  const sandboxes = ctx.sandboxes.loadAll();
  const containers = ctx.containerRecords.loadAll();
  const namespaceOf = (sandboxId: string) => [...containers.records.values()].find((c) => c.sandboxId === sandboxId)?.namespace ?? "k8s.io";
  const found: RecoveredPods = { ready: [], leftovers: [], created: [] };
  const leftover = (id: string, why: string, record?: SandboxRecord) => {
    const dir = ctx.podDir(id);
    const pod = addPod(record ? interruptedStartRecord(record, dir) : rederivedRecord(id, dir, namespaceOf(id)));
    pod.log.warn({ holder_pid: pod.record.holderPid, state: pod.record.state }, `${why}; taking the pod down`);
    found.leftovers.push(pod);
    return pod;
  };
  for (const d of sandboxes.damaged) {
    log.error({ sandbox_id: d.id, reason: d.reason, moved_to: d.quarantinedAs, bytes: quarantinedText(d.quarantinedAs) }, "damaged sandbox record set aside");
  }
  for (const record of sandboxes.records.values()) {
    if (record.starting && record.state === "created") {
      leftover(record.id, "the daemon died in this sandbox's Start", record);
      continue;
    }
    const pod = addPod(record);
    pod.replayJournalFile();
    if (record.state === "created") found.created.push(pod);
    if (record.state !== "ready") continue;
    await reattach(pod);
    found.ready.push(pod);
  }
  for (const d of sandboxes.damaged) if (!ctx.pods.has(d.id)) leftover(d.id, "sandbox record damaged");
  for (const id of podDirIds(join(ctx.options.dir, "pods"))) if (!ctx.pods.has(id)) leftover(id, "pod dir without a sandbox record");
  for (const d of containers.damaged) log.error({ container_id: d.id, reason: d.reason, moved_to: d.quarantinedAs }, "damaged container record set aside");
  for (const record of containers.records.values()) {
    const pod = ctx.pods.get(record.sandboxId) ?? leftover(record.sandboxId, `container ${record.id} recorded in a sandbox that has no record`);
    tasks.adopt(new Container(record, pod));
  }
  return found;
}

/** The start of a quarantined record, for the log (what was lost, for whoever inspects it). */
function quarantinedText(path: string): string {
  try {
    return readFileSync(path, "utf8").slice(0, 2048);
  } catch {
    return "";
  }
}

/** Container stats summed over a pod (limits: the largest, or the sum when `sumLimits`). */
export function sumStats(all: readonly CgroupStats[], sumLimits = false): CgroupStats {
  const zero: CgroupStats = { version: all[0]?.version ?? 2, cpuUsageNs: 0n, cpuUserNs: 0n, cpuSystemNs: 0n, memoryUsageBytes: 0n, memoryLimitBytes: 0n, pidsCurrent: 0n, pidsLimit: 0n };
  return all.reduce(
    (a, b) => ({
      version: a.version,
      cpuUsageNs: a.cpuUsageNs + b.cpuUsageNs,
      cpuUserNs: a.cpuUserNs + b.cpuUserNs,
      cpuSystemNs: a.cpuSystemNs + b.cpuSystemNs,
      memoryUsageBytes: a.memoryUsageBytes + b.memoryUsageBytes,
      memoryLimitBytes: sumLimits ? a.memoryLimitBytes + b.memoryLimitBytes : a.memoryLimitBytes > b.memoryLimitBytes ? a.memoryLimitBytes : b.memoryLimitBytes,
      pidsCurrent: a.pidsCurrent + b.pidsCurrent,
      pidsLimit: a.pidsLimit + b.pidsLimit,
    }),
    zero,
  );
}
