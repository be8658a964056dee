import type { Any } from "@bufbuild/protobuf/wkt";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { Controller } from "../gen/kuasar_io/containerd/services/sandbox/v1/sandbox_pb.js";
import type { GrpcServiceImpl } from "../grpc/server.js";
import { jsonAny, OCI_RESOURCES_URL } from "../task/task-service.js";
import { podConfigFromAny } from "./cri-pod-config.js";
import { validateId } from "./id.js";
import type { PreparedBundles } from "./prepared-bundles.js";
import { hasAnyPodResource, OCI_SPEC_URL, podResourcesOfLinux } from "./sandbox-update.js";
import { criStateString, namespaceOr, statusInfoWithLabels, timestampOf as ts } from "./sandbox-wire.js";
import type { Sandboxer } from "./sandboxer.js";

/** The wire name of the fork's service: upstream's, with other field numbers and calls. */
export const KUASAR_IO_CONTROLLER_SERVICE = "containerd.services.sandbox.v1.Controller";

/**
 * The task address in the form the fork dials: it takes `unix:///abs/path` as a ttrpc
 * socket and reads upstream's `ttrpc+unix://` as an abstract socket name, so the prefix goes.
 * Our task sockets are ttrpc on unix sockets, served by kuasar-endpoint (Task API v2 and v3).
 */
export function kuasarIoTaskAddress(address: string): string {
  if (address === "") return "";
  const m = /^(?:ttrpc\+)?unix:\/\/(\/.*)$/.exec(address);
  if (!m) throw new RuntimeError(Code.FailedPrecondition, `task address ${JSON.stringify(address)}: the kuasar-io containerd fork dials only unix:// ttrpc sockets`);
  return `unix://${m[1]}`;
}

/**
 * The Sandbox API of the kuasar-io containerd fork (`main`, containerd 1.7.0 based):
 * upstream's calls with the fork's field numbers, the task address in Status (which is
 * where the fork reads it), and three calls of its own mapped onto the {@link Sandboxer}:
 * Prepare makes the container's bundle (the fork does not make one), Purge removes it once
 * the task is deleted, UpdateResources updates a container's resources through the Task API
 * backend. Upstream's Metrics and Update do not exist in this API.
 */
export function kuasarIoControllerServiceImpl(sandboxer: Sandboxer, bundles: PreparedBundles, defaultNamespace: string): GrpcServiceImpl<typeof Controller> {
  const sandboxId = (s: string) => validateId("sandbox", s);
  const containerId = (s: string) => validateId("container", s);
  /** The sandbox must exist here: a bundle or an update for a pod of another sandboxer would go nowhere. */
  const existing = (s: string) => {
    const id = sandboxId(s);
    if (!sandboxer.has(id)) throw new RuntimeError(Code.NotFound, `sandbox ${id} not found`);
    return id;
  };
  return {
    async create(req, ctx) {
      const pod = podConfigFromAny(req.options);
      await sandboxer.create({
        id: sandboxId(req.sandboxId),
        namespace: namespaceOr(ctx, defaultNamespace),
        netnsPath: req.netnsPath,
        pod,
        // The fork's Create carries neither annotations nor sandbox labels: the pod's own are in its CRI config.
        annotations: { ...(pod?.annotations ?? {}) },
        labels: {},
        standalone: false,
      });
      return { sandboxId: req.sandboxId };
    },
    async start(req, ctx) {
      const s = await sandboxer.start(sandboxId(req.sandboxId), ctx.signal);
      return { sandboxId: s.id, pid: s.pid, createdAt: ts(s.createdAt), labels: s.labels, taskAddress: kuasarIoTaskAddress(s.taskAddress) };
    },
    async platform(req) {
      return { platform: await sandboxer.platform(sandboxId(req.sandboxId)) };
    },
    async prepare(req) {
      const sid = existing(req.sandboxId);
      const cid = containerId(req.containerId);
      if (req.execId !== "") {
        // An exec needs nothing made: Task Exec carries its spec and stdio. Its container's bundle is the answer.
        if (!(await bundles.exists(sid, cid))) throw new RuntimeError(Code.NotFound, `prepare exec ${req.execId}: container ${cid} has no bundle in sandbox ${sid}`);
        return { bundle: bundles.path(sid, cid) };
      }
      const spec = specJson(req.spec);
      return { bundle: await bundles.prepare(sid, cid, spec) };
    },
    async purge(req) {
      const sid = sandboxId(req.sandboxId);
      const cid = containerId(req.containerId);
      if (req.execId !== "") return {}; // an exec's Prepare made nothing, so there is nothing of it to remove
      if (sandboxer.tasks.has(cid)) throw new RuntimeError(Code.FailedPrecondition, `purge: container ${cid} still has a task; delete it first`);
      await bundles.purge(sid, cid);
      return {};
    },
    async updateResources(req) {
      const sid = existing(req.sandboxId);
      const resources = jsonAny(req.resources, OCI_RESOURCES_URL, "update resources");
      if (resources === undefined) throw new RuntimeError(Code.InvalidArgument, "update resources: resources are required");
      if (req.containerId === "") {
        // Pod-level: applied to the pod cgroup as the upstream API's Update applies a spec's resources.
        const pod = podResourcesOfLinux(resources, "update resources");
        if (!hasAnyPodResource(pod)) throw new RuntimeError(Code.InvalidArgument, "update resources: no pod-level resource given (memory limit, cpu quota/period/shares)");
        await sandboxer.update(sid, { fields: ["spec"], labels: {}, resources: pod, tasksExtension: undefined });
        return {};
      }
      await sandboxer.tasks.update(containerId(req.containerId), resources, { ...req.annotations });
      return {};
    },
    async stop(req) {
      await sandboxer.stop(sandboxId(req.sandboxId), req.timeoutSecs);
      return {};
    },
    async wait(req, ctx) {
      const e = await sandboxer.wait(sandboxId(req.sandboxId), ctx.signal);
      return { exitStatus: e.exitStatus, exitedAt: ts(e.exitedAt) };
    },
    async status(req) {
      const s = await sandboxer.status(sandboxId(req.sandboxId), req.verbose);
      return {
        sandboxId: s.id,
        pid: s.pid,
        state: criStateString(s.state),
        // The fork reads the task address from here before every container start; an empty one would make it run the handler's shim binary instead.
        taskAddress: kuasarIoTaskAddress(s.taskAddress),
        info: statusInfoWithLabels(s),
        createdAt: ts(s.createdAt),
        exitedAt: ts(s.exitedAt),
      };
    },
    async shutdown(req) {
      const sid = sandboxId(req.sandboxId);
      await sandboxer.shutdown(sid);
      await bundles.purgeSandbox(sid);
      return {};
    },
  };
}

/** The OCI spec of a Prepare, checked to be a JSON object. */
function specJson(spec: Any | undefined): string {
  if (!spec) throw new RuntimeError(Code.InvalidArgument, "prepare: spec is required");
  const parsed = jsonAny(spec, OCI_SPEC_URL, "prepare spec");
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new RuntimeError(Code.InvalidArgument, "prepare spec: want a JSON object");
  return JSON.stringify(parsed);
}
