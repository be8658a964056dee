import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, type Any, type Timestamp } from "@bufbuild/protobuf/wkt";
import { packAny } from "../protobuf/typeurl.js";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { MetricsSchema as CgroupV1MetricsSchema } from "../gen/io/containerd/cgroups/v1/metrics_pb.js";
import { MetricsSchema as CgroupV2MetricsSchema } from "../gen/io/containerd/cgroups/v2/metrics_pb.js";
import { CheckpointOptionsSchema, ProcessDetailsSchema } from "../gen/containerd/runc/v1/options_pb.js";
import { Task } from "../gen/containerd/task/v2/shim_pb.js";
import { Status } from "../gen/containerd/v1/types/task_pb.js";
import type { ProcessState } from "./process-state.js";
import type { TtrpcServer } from "../ttrpc/server.js";
import { serveService, type ServiceImpl } from "../ttrpc/service.js";
import type { CgroupStats, TaskBackend } from "./task-backend.js";

/** Type URLs of the JSON-encoded OCI types containerd sends (protocols.md §1). */
export const OCI_PROCESS_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process";
export const OCI_RESOURCES_URL = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

/** Service names the same messages are served under: v3 is byte-identical to v2. */
export const TASK_SERVICE_V2 = "containerd.task.v2.Task";
export const TASK_SERVICE_V3 = "containerd.task.v3.Task";

const statusOf: Record<ProcessState, Status> = {
  created: Status.CREATED,
  running: Status.RUNNING,
  paused: Status.PAUSED,
  stopped: Status.STOPPED,
};

/** Decodes a JSON-typed Any (OCI Process / LinuxResources), checking its type URL. */
export function jsonAny(any: Any | undefined, url: string, what: string): unknown {
  if (!any) return undefined;
  if (any.typeUrl !== url) throw new RuntimeError(Code.InvalidArgument, `${what}: unexpected type ${JSON.stringify(any.typeUrl)}, want ${url}`);
  try {
    return JSON.parse(new TextDecoder().decode(any.value));
  } catch (err) {
    throw new RuntimeError(Code.InvalidArgument, `${what}: invalid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** runc's CheckpointOptions (what ctr and CRI send); none: leave running. */
function checkpointOptions(any: Any | undefined): { exit: boolean } | undefined {
  if (!any || any.value.length === 0) return undefined;
  if (any.typeUrl !== CheckpointOptionsSchema.typeName) throw new RuntimeError(Code.InvalidArgument, `checkpoint options: unexpected type ${JSON.stringify(any.typeUrl)}, want ${CheckpointOptionsSchema.typeName}`);
  try {
    return fromBinary(CheckpointOptionsSchema, any.value);
  } catch (err) {
    throw new RuntimeError(Code.InvalidArgument, `checkpoint options: ${(err as Error).message}`, { cause: err });
  }
}

function ts(d: Date | undefined): Timestamp | undefined {
  return d ? timestampFromDate(d) : undefined;
}

/** Packs cgroup numbers as the v1 or v2 metrics message containerd decodes for its version. */
export function packCgroupStats(s: CgroupStats): Any {
  if (s.version === 2) {
    return packAny(
      CgroupV2MetricsSchema,
      create(CgroupV2MetricsSchema, {
        pids: { current: s.pidsCurrent, limit: s.pidsLimit },
        cpu: { usageUsec: s.cpuUsageNs / 1000n, userUsec: s.cpuUserNs / 1000n, systemUsec: s.cpuSystemNs / 1000n },
        memory: { usage: s.memoryUsageBytes, usageLimit: s.memoryLimitBytes },
      }),
    );
  }
  return packAny(
    CgroupV1MetricsSchema,
    create(CgroupV1MetricsSchema, {
      pids: { current: s.pidsCurrent, limit: s.pidsLimit },
      cpu: { usage: { total: s.cpuUsageNs, user: s.cpuUserNs, kernel: s.cpuSystemNs } },
      memory: { usage: { usage: s.memoryUsageBytes, limit: s.memoryLimitBytes } },
    }),
  );
}

/**
 * The Task API adapter: decodes, validates, delegates to a {@link TaskBackend}
 * and lets the server map thrown RuntimeErrors to ttrpc statuses.
 */
export function taskServiceImpl(backend: TaskBackend, namespaceOf: (md: ReadonlyMap<string, readonly string[]>) => string): ServiceImpl<typeof Task> {
  return {
    async create(req, ctx) {
      if (!req.id) throw new RuntimeError(Code.InvalidArgument, "create: id must not be empty");
      const { pid } = await backend.create({
        containerId: req.id,
        bundle: req.bundle,
        rootfs: req.rootfs.map((m) => ({ type: m.type, source: m.source, target: m.target, options: [...m.options] })),
        stdio: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal },
        checkpoint: req.checkpoint,
        namespace: namespaceOf(ctx.metadata),
        options: req.options ? { typeUrl: req.options.typeUrl, value: req.options.value } : undefined,
        signal: ctx.signal,
      });
      return { pid };
    },
    async start(req, ctx) {
      return backend.start(req.id, req.execId, ctx.signal);
    },
    async delete(req) {
      const e = await backend.delete(req.id, req.execId);
      return { pid: e.pid, exitStatus: e.exitStatus, exitedAt: ts(e.exitedAt) };
    },
    async pids(req) {
      const list = await backend.pids(req.id);
      return {
        processes: list.map((p) => ({
          pid: p.pid,
          info: p.execId ? packAny(ProcessDetailsSchema, create(ProcessDetailsSchema, { execId: p.execId })) : undefined,
        })),
      };
    },
    async pause(req) {
      await backend.pause(req.id);
      return {};
    },
    async resume(req) {
      await backend.resume(req.id);
      return {};
    },
    async checkpoint(req, ctx) {
      if (!req.path) throw new RuntimeError(Code.InvalidArgument, "checkpoint: path must not be empty");
      const o = checkpointOptions(req.options);
      await backend.checkpoint(req.id, { path: req.path, exit: o?.exit ?? false }, ctx.signal);
      return {};
    },
    async kill(req) {
      await backend.kill(req.id, req.execId, req.signal, req.all);
      return {};
    },
    async exec(req) {
      if (!req.execId) throw new RuntimeError(Code.InvalidArgument, "exec: exec_id must not be empty");
      const process = jsonAny(req.spec, OCI_PROCESS_URL, "exec spec");
      if (process === undefined) throw new RuntimeError(Code.InvalidArgument, "exec: spec is required");
      await backend.exec({
        containerId: req.id,
        execId: req.execId,
        stdio: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal },
        process,
      });
      return {};
    },
    async resizePty(req) {
      await backend.resizePty(req.id, req.execId, req.width, req.height);
      return {};
    },
    async closeIO(req) {
      await backend.closeIO(req.id, req.execId, req.stdin);
      return {};
    },
    async update(req) {
      await backend.update(req.id, jsonAny(req.resources, OCI_RESOURCES_URL, "update resources"), { ...req.annotations });
      return {};
    },
    async wait(req, ctx) {
      const e = await backend.wait(req.id, req.execId, ctx.signal);
      return { exitStatus: e.exitStatus, exitedAt: ts(e.exitedAt) };
    },
    async stats(req) {
      return { stats: packCgroupStats(await backend.stats(req.id)) };
    },
    async connect(req) {
      const c = await backend.connect(req.id);
      return { shimPid: c.serverPid, taskPid: c.taskPid };
    },
    async shutdown(req) {
      await backend.shutdown(req.id);
      return {};
    },
    async state(req) {
      const s = await backend.state(req.id, req.execId);
      const reply: MessageInitShape<(typeof Task)["method"]["state"]["output"]> = {
        id: s.execId || s.containerId,
        execId: s.execId,
        bundle: s.bundle,
        pid: s.pid,
        status: statusOf[s.state],
        stdin: s.stdio.stdin,
        stdout: s.stdio.stdout,
        stderr: s.stdio.stderr,
        terminal: s.stdio.terminal,
        exitStatus: s.exitStatus,
        exitedAt: ts(s.exitedAt),
      };
      return reply;
    },
  };
}

/** Serves `backend` as both containerd.task.v2.Task and containerd.task.v3.Task on `server`. */
export function serveTaskApi(server: TtrpcServer, backend: TaskBackend, namespaceOf: (md: ReadonlyMap<string, readonly string[]>) => string): void {
  const impl = taskServiceImpl(backend, namespaceOf);
  serveService(server, Task, impl, TASK_SERVICE_V2);
  serveService(server, Task, impl, TASK_SERVICE_V3);
}
