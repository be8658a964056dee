import { fromBinary } from "@bufbuild/protobuf";
import { writeFileSync } from "node:fs";
import { parse } from "smol-toml";
import { OptionsSchema as RuntimeOptionsSchema } from "../gen/runtimeoptions/v1/api_pb.js";
import { basename, dirname, join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import type { Logger } from "../log/logger.js";
import type { PodConfig, Sandboxer } from "../sandbox/sandboxer.js";
import { readSpec } from "../pod/bundle.js";
import { EXIT_SOURCE_FILE } from "../task/exit-source.js";
import { writeFileAtomic } from "../fs/atomic-write.js";
import type { CgroupStats, CheckpointSpec, CreateTaskSpec, ExecSpec, ExitInfo, ProcessStatus, TaskBackend } from "../task/task-backend.js";
import type { EventPublisher } from "../task/task-event.js";
import { CRI_CONTAINER_TYPE, CRI_SANDBOX_ID, CRI_SANDBOX_LOG_DIRECTORY, CRI_SANDBOX_NAME, CRI_SANDBOX_NAMESPACE, CRI_SANDBOX_UID } from "./cri-annotations.js";
import { splitPauseSpecSysctls } from "./pause-spec-sysctls.js";
import { sandboxTaskSignal } from "./sandbox-task-signal.js";
import { chooseSandboxer, sandboxerFromBundle, sandboxOwner } from "./sandboxer-choice.js";

/** The OCI spec fields the bridge reads to classify a task. */
interface BridgeSpec {
  hostname?: string;
  annotations?: Record<string, string>;
  linux?: { namespaces?: { type: string; path?: string }[]; sysctl?: Record<string, string>; cgroupsPath?: string };
}

/**
 * CRI's cgroup_parent back from the pause spec's cgroupsPath, which containerd 1.7
 * makes `<parent>/<id>` (cgroupfs) or `<slice>:cri-containerd:<id>` (systemd).
 */
export function cgroupParentOfPauseSpec(cgroupsPath: string | undefined): string {
  if (!cgroupsPath) return "";
  if (cgroupsPath.includes(":")) return cgroupsPath.slice(0, cgroupsPath.indexOf(":"));
  const slash = cgroupsPath.lastIndexOf("/");
  return slash > 0 ? cgroupsPath.slice(0, slash) : "";
}

/**
 * The shim v2 bridge for containerd 1.7: one Task API for every pod on the node.
 * The pod's sandbox ("pause") task becomes Sandbox API calls (no pause container
 * runs); app containers go to the Task API of the sandbox that owns their pod; a
 * container with no pod (`ctr run`) gets a standalone sandbox of its own.
 */
export class BridgeTasks implements TaskBackend {
  /** Bundle of every task created since this daemon started (for the deleted marker). */
  private readonly bundles = new Map<string, string>();
  /** Exit status of a sandbox task stopped by a signal to it (what the pause process would have exited with). */
  private readonly signalledExit = new Map<string, number>();

  constructor(
    private readonly sandboxers: ReadonlyMap<string, Sandboxer>,
    private readonly defaultKind: string,
    private readonly events: EventPublisher,
    private readonly log: Logger,
    /** Seconds a pod's containers get to exit when its sandbox task gets SIGTERM or SIGINT (`shim_stop_grace_secs`). */
    private readonly stopGraceSecs: number,
  ) {}

  has(id: string): boolean {
    return this.containerOwner(id) !== undefined || this.sandboxOwner(id) !== undefined;
  }

  async create(spec: CreateTaskSpec): Promise<{ pid: number }> {
    const oci = readSpec(spec.bundle) as BridgeSpec;
    const a = oci.annotations ?? {};
    // ctr's calls carry no namespace metadata on 1.7; the bundle path always names it.
    const namespace = namespaceFromBundle(spec.bundle) ?? spec.namespace;
    this.bundles.set(spec.containerId, spec.bundle);
    const type = a[CRI_CONTAINER_TYPE];
    // Only a pod's (or a lone container's) sandbox is chosen here; a container goes to its pod's.
    const fromRuntime = () => sandboxerFromOptions(spec.options) ?? sandboxerFromBundle(spec.bundle);
    if (type === "sandbox") return this.createPodSandbox(spec, oci, namespace, fromRuntime());
    if (type === "container") {
      const podId = a[CRI_SANDBOX_ID];
      if (!podId) throw new RuntimeError(Code.InvalidArgument, `container ${spec.containerId}: no ${CRI_SANDBOX_ID} annotation`);
      const owner = this.sandboxOwner(podId);
      if (!owner) throw new RuntimeError(Code.NotFound, `sandbox ${podId} of container ${spec.containerId} not found`);
      const created = await owner.tasks.create({ ...spec, namespace, sandboxId: podId });
      await this.writeExitSource(owner, spec.containerId, spec.bundle);
      return created;
    }
    // No pod: a sandbox of its own, named after the container.
    const sandboxer = this.pick(a, fromRuntime());
    const ownNetwork = oci.linux?.namespaces?.some((n) => n.type === "network" && !n.path) ?? false;
    await sandboxer.create({ id: spec.containerId, namespace, netnsPath: "", pod: undefined, annotations: a, labels: {}, standalone: true, ownNetwork });
    try {
      await sandboxer.start(spec.containerId);
      const created = await sandboxer.tasks.create({ ...spec, namespace, sandboxId: spec.containerId });
      await this.writeExitSource(sandboxer, spec.containerId, spec.bundle);
      return created;
    } catch (err) {
      await sandboxer.shutdown(spec.containerId).catch(() => {});
      throw err;
    }
  }

  async start(id: string, execId: string, signal?: AbortSignal): Promise<{ pid: number }> {
    const c = this.containerOwner(id);
    if (c) return c.tasks.start(id, execId, signal);
    const s = this.requireSandbox(id);
    if (execId) throw new RuntimeError(Code.FailedPrecondition, `sandbox ${id} runs no processes of its own`);
    const st = await s.status(id, false);
    this.events.publish(await this.namespaceOf(s, id), { kind: "start", containerId: id, pid: st.pid });
    return { pid: st.pid };
  }

  async delete(id: string, execId: string): Promise<ExitInfo> {
    const c = this.containerOwner(id);
    if (c) {
      const bundle = execId ? "" : (await c.tasks.state(id, "")).bundle;
      const e = await c.tasks.delete(id, execId);
      // A standalone container's sandbox (same id) goes with it.
      if (!execId && c.has(id)) await c.shutdown(id);
      if (!execId) this.markDeleted(id, bundle);
      return e;
    }
    const s = this.requireSandbox(id);
    if (execId) throw new RuntimeError(Code.NotFound, `exec ${execId} not found in sandbox ${id}`);
    const st = await s.status(id, false);
    if (st.state === "ready") throw new RuntimeError(Code.FailedPrecondition, `cannot delete sandbox ${id}: it is running`);
    const ns = await this.namespaceOf(s, id);
    await s.shutdown(id);
    this.markDeleted(id, this.bundles.get(id) ?? "");
    const e = { pid: 0, exitStatus: this.sandboxExitStatus(id, st.exitStatus), exitedAt: st.exitedAt ?? new Date() };
    this.signalledExit.delete(id);
    this.events.publish(ns, { kind: "delete", containerId: id, ...e });
    return e;
  }

  async exec(spec: ExecSpec): Promise<void> {
    const c = this.containerOwner(spec.containerId);
    if (c) return c.tasks.exec(spec);
    this.requireSandbox(spec.containerId);
    throw new RuntimeError(Code.FailedPrecondition, `sandbox ${spec.containerId} has no pause container to exec in`);
  }

  async state(id: string, execId: string): Promise<ProcessStatus> {
    const c = this.containerOwner(id);
    if (c) return c.tasks.state(id, execId);
    const s = this.requireSandbox(id);
    if (execId) throw new RuntimeError(Code.NotFound, `exec ${execId} not found in sandbox ${id}`);
    const st = await s.status(id, false);
    return {
      containerId: id,
      execId: "",
      bundle: "",
      pid: st.pid,
      state: st.state === "ready" ? "running" : st.state === "created" ? "created" : "stopped",
      stdio: { stdin: "", stdout: "", stderr: "", terminal: false },
      exitStatus: this.sandboxExitStatus(id, st.exitStatus),
      exitedAt: st.exitedAt,
    };
  }

  async kill(id: string, execId: string, signal: number, all: boolean): Promise<void> {
    const c = this.containerOwner(id);
    if (c) return c.tasks.kill(id, execId, signal, all);
    const s = this.requireSandbox(id);
    if (execId) throw new RuntimeError(Code.NotFound, `exec ${execId} not found in sandbox ${id}`);
    const how = sandboxTaskSignal(id, signal);
    const st = await s.status(id, false);
    if (st.state === "stopped") throw new RuntimeError(Code.NotFound, "process already finished");
    if (how.action === "probe") return;
    this.signalledExit.set(id, how.exitStatus);
    await s.stop(id, how.graceful ? this.stopGraceSecs : 0);
  }

  async wait(id: string, execId: string, signal: AbortSignal): Promise<ExitInfo> {
    const c = this.containerOwner(id);
    if (c) return c.tasks.wait(id, execId, signal);
    const s = this.requireSandbox(id);
    const st = await s.status(id, false);
    const e = await s.wait(id, signal);
    return { pid: st.pid, exitStatus: this.sandboxExitStatus(id, e.exitStatus), exitedAt: e.exitedAt };
  }

  async pids(id: string): Promise<{ pid: number; execId: string }[]> {
    const c = this.containerOwner(id);
    if (c) return c.tasks.pids(id);
    const s = this.requireSandbox(id);
    const st = await s.status(id, false);
    return st.state === "ready" ? [{ pid: st.pid, execId: "" }] : [];
  }

  async pause(id: string): Promise<void> {
    return this.requireContainer(id).tasks.pause(id);
  }

  async resume(id: string): Promise<void> {
    return this.requireContainer(id).tasks.resume(id);
  }

  async checkpoint(id: string, spec: CheckpointSpec, signal?: AbortSignal): Promise<void> {
    const c = this.containerOwner(id);
    if (c) return c.tasks.checkpoint(id, spec, signal);
    this.requireSandbox(id);
    throw new RuntimeError(Code.FailedPrecondition, `sandbox ${id}: no pause process runs to checkpoint; checkpoint the pod's containers`);
  }

  async closeIO(id: string, execId: string, stdin: boolean): Promise<void> {
    const c = this.containerOwner(id);
    if (c) return c.tasks.closeIO(id, execId, stdin);
    this.requireSandbox(id);
    throw new RuntimeError(Code.FailedPrecondition, `sandbox ${id} has no stdin to close: no pause process runs`);
  }

  async resizePty(id: string, execId: string, width: number, height: number): Promise<void> {
    return this.requireContainer(id).tasks.resizePty(id, execId, width, height);
  }

  async update(id: string, resources: unknown, annotations: Record<string, string>): Promise<void> {
    const c = this.containerOwner(id);
    if (c) return c.tasks.update(id, resources, annotations);
    this.requireSandbox(id);
    throw new RuntimeError(
      Code.FailedPrecondition,
      `sandbox ${id}: no pause process runs whose resources could be updated; update the pod's containers (UpdateContainerResources)`,
    );
  }

  async stats(id: string): Promise<CgroupStats> {
    const c = this.containerOwner(id);
    if (c) return c.tasks.stats(id);
    return this.requireSandbox(id).metrics(id);
  }

  async connect(id: string): Promise<{ taskPid: number; serverPid: number }> {
    const c = this.containerOwner(id);
    if (c) return c.tasks.connect(id);
    const s = this.requireSandbox(id);
    const st = await s.status(id, false);
    return { taskPid: st.pid, serverPid: process.pid };
  }

  async shutdown(_id: string): Promise<void> {
    // containerd sends this once per task; the resident bridge serves every other task and stays.
  }

  private async createPodSandbox(spec: CreateTaskSpec, oci: BridgeSpec, namespace: string, fromOptions: string | undefined): Promise<{ pid: number }> {
    const a = oci.annotations ?? {};
    const id = spec.containerId;
    const sandboxer = this.pick(a, fromOptions);
    const netns = oci.linux?.namespaces?.find((n) => n.type === "network");
    const pod: PodConfig = {
      name: a[CRI_SANDBOX_NAME] ?? "",
      namespace: a[CRI_SANDBOX_NAMESPACE] ?? "",
      uid: a[CRI_SANDBOX_UID] ?? "",
      attempt: 0,
      hostname: oci.hostname ?? "",
      logDirectory: a[CRI_SANDBOX_LOG_DIRECTORY] ?? "",
      dns: { servers: [], searches: [], options: [] },
      labels: {},
      annotations: a,
      cgroupParent: cgroupParentOfPauseSpec(oci.linux?.cgroupsPath),
      hostNetwork: !netns,
      hostPid: !oci.linux?.namespaces?.some((n) => n.type === "pid"),
      hostIpc: !oci.linux?.namespaces?.some((n) => n.type === "ipc"),
      // The pause spec has a pid namespace whether or not containers share it: CRI
      // names the pod's in the spec of each container that shares it (pid POD).
      sharedPid: false,
      // containerd puts the pod's sysctls in the pause spec, and 2.x its own unprivileged-port/ICMP defaults.
      ...splitPauseSpecSysctls(oci.linux?.sysctl),
      resources: { cpuPeriod: 0, cpuQuota: 0, cpuShares: 0, memoryLimitBytes: 0 },
      privileged: false,
    };
    await sandboxer.create({ id, namespace, netnsPath: netns?.path ?? "", pod, annotations: a, labels: {}, standalone: false });
    let st;
    try {
      st = await sandboxer.start(id);
    } catch (err) {
      await sandboxer.shutdown(id).catch(() => {});
      throw err;
    }
    this.log.info({ sandbox_id: id, sandboxer: sandboxer.kind, pid: st.pid }, "pod sandbox task created (no pause container)");
    this.events.publish(namespace, {
      kind: "create",
      containerId: id,
      bundle: spec.bundle,
      rootfs: spec.rootfs,
      io: spec.stdio,
      checkpoint: "",
      pid: st.pid,
    });
    // containerd learns of the sandbox's end from Wait; the exit event is for `ctr events` and other subscribers.
    void sandboxer.wait(id, new AbortController().signal).then(
      (e) => this.events.publish(namespace, { kind: "exit", containerId: id, id, pid: st.pid, exitStatus: this.sandboxExitStatus(id, e.exitStatus), exitedAt: e.exitedAt }),
      () => {},
    );
    return { pid: st.pid };
  }

  /**
   * Tells `containerd-shim-kuasar-v1 delete`, which containerd runs after every
   * teardown, that the task is already gone: it then answers from the shell
   * without starting Node (the marker dies with the bundle).
   */
  private markDeleted(id: string, bundle: string): void {
    this.bundles.delete(id);
    if (!bundle) return;
    try {
      writeFileSync(join(bundle, DELETED_MARKER), "");
    } catch (err) {
      this.log.debug({ err, container_id: id }, "could not write the deleted marker");
    }
  }

  /**
   * Tells the shim's `delete`, should it run while this daemon is down, where the container's
   * exit is recorded. Without it that exit would be lost, so a container whose source cannot be
   * written (a full disk) is deleted again and Create fails with the write's error.
   */
  private async writeExitSource(owner: Sandboxer, id: string, bundle: string): Promise<void> {
    const source = owner.tasks.exitSource?.(id);
    if (!source) return;
    try {
      writeFileAtomic(join(bundle, EXIT_SOURCE_FILE), JSON.stringify(source));
    } catch (err) {
      this.log.warn({ err, container_id: id }, "could not write the exit source: the container is deleted and Create fails");
      await owner.tasks.delete(id, "").catch((e: unknown) => this.log.warn({ err: e, container_id: id }, "deleting the container after the failed Create failed"));
      throw err;
    }
  }

  /** A sandbox task's exit status: the signalled one when a signal to it stopped the pod. */
  private sandboxExitStatus(id: string, fromSandbox: number): number {
    return this.signalledExit.get(id) ?? fromSandbox;
  }

  /** The pod's sandboxer: its annotation, else the runtime handler's options (or the launcher's name), else the default. */
  private pick(annotations: Record<string, string>, fromRuntime?: string): Sandboxer {
    return chooseSandboxer(this.sandboxers, this.defaultKind, annotations, fromRuntime);
  }

  private containerOwner(id: string): Sandboxer | undefined {
    for (const s of this.sandboxers.values()) if (s.tasks.has(id)) return s;
    return undefined;
  }

  private sandboxOwner(id: string): Sandboxer | undefined {
    return sandboxOwner(this.sandboxers, id);
  }

  private requireSandbox(id: string): Sandboxer {
    const s = this.sandboxOwner(id);
    if (!s) throw new RuntimeError(Code.NotFound, `container ${id}: container not created`);
    return s;
  }

  private requireContainer(id: string): Sandboxer {
    const c = this.containerOwner(id);
    if (c) return c;
    if (this.sandboxOwner(id)) throw new RuntimeError(Code.FailedPrecondition, `${id} is a pod sandbox, not a container`);
    throw new RuntimeError(Code.NotFound, `container ${id}: container not created`);
  }

  private async namespaceOf(s: Sandboxer, id: string): Promise<string> {
    const st = await s.status(id, true);
    return st.info["namespace"] || "default";
  }
}

/**
 * The `sandboxer` key of the CRI runtime handler's `options` table: containerd
 * 1.7 hands a non-runc runtime its options as `runtimeoptions.v1.Options` whose
 * `config_body` is the table as TOML, e.g. `sandboxer = "wasm"`.
 */
export function sandboxerFromOptions(options: CreateTaskSpec["options"]): string | undefined {
  if (!options || options.typeUrl.slice(options.typeUrl.lastIndexOf("/") + 1) !== "runtimeoptions.v1.Options") return undefined;
  try {
    const body = new TextDecoder().decode(fromBinary(RuntimeOptionsSchema, options.value).configBody);
    const v = (parse(body) as Record<string, unknown>)["sandboxer"];
    return typeof v === "string" && v ? v : undefined;
  } catch {
    throw new RuntimeError(Code.InvalidArgument, "runtime options: config_body is not valid TOML");
  }
}

/** File in a task's bundle saying the bridge already deleted it (read by the launcher's `delete`). */
export const DELETED_MARKER = "kuasar-deleted";

/** containerd 1.7 bundles live at `<state>/io.containerd.runtime.v2.task/<namespace>/<id>`. */
export function namespaceFromBundle(bundle: string): string | undefined {
  const parent = dirname(bundle);
  return basename(dirname(parent)) === "io.containerd.runtime.v2.task" ? basename(parent) : undefined;
}

