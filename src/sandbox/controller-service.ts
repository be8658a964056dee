import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Controller } from "../gen/containerd/services/sandbox/v1/sandbox_pb.js";
import type { GrpcServiceImpl } from "../grpc/server.js";
import { packCgroupStats } from "../task/task-service.js";
import { podConfigFromAny } from "./cri-pod-config.js";
import { validateId } from "./id.js";
import { sandboxUpdateOf } from "./sandbox-update.js";
import { criStateString, namespaceOr, statusInfoWithLabels, timestampOf as ts } from "./sandbox-wire.js";
import type { Sandboxer } from "./sandboxer.js";

/**
 * The Sandbox API adapter (`containerd.services.sandbox.v1.Controller`, upstream
 * 2.x numbering): decodes, validates ids, delegates to a {@link Sandboxer}.
 * Errors are RuntimeErrors the gRPC server maps to status codes.
 */
export function controllerServiceImpl(sandboxer: Sandboxer, defaultNamespace: string): GrpcServiceImpl<typeof Controller> {
  const id = (s: string) => validateId("sandbox", s);
  return {
    async create(req, ctx) {
      await sandboxer.create({
        id: id(req.sandboxId),
        namespace: namespaceOr(ctx, defaultNamespace),
        netnsPath: req.netnsPath,
        pod: podConfigFromAny(req.options),
        annotations: { ...req.annotations },
        labels: { ...(req.sandbox?.labels ?? {}) },
        standalone: false,
      });
      return { sandboxId: req.sandboxId };
    },
    async start(req, ctx) {
      const s = await sandboxer.start(id(req.sandboxId), ctx.signal);
      return {
        sandboxId: s.id,
        pid: s.pid,
        createdAt: ts(s.createdAt),
        labels: s.labels,
        address: s.taskAddress,
        version: s.taskApiVersion,
      };
    },
    async platform(req) {
      return { platform: await sandboxer.platform(id(req.sandboxId)) };
    },
    async stop(req) {
      await sandboxer.stop(id(req.sandboxId), req.timeoutSecs);
      return {};
    },
    async wait(req, ctx) {
      const e = await sandboxer.wait(id(req.sandboxId), ctx.signal);
      return { exitStatus: e.exitStatus, exitedAt: ts(e.exitedAt) };
    },
    async status(req) {
      const s = await sandboxer.status(id(req.sandboxId), req.verbose);
      return {
        sandboxId: s.id,
        pid: s.pid,
        state: criStateString(s.state),
        info: statusInfoWithLabels(s),
        createdAt: ts(s.createdAt),
        exitedAt: ts(s.exitedAt),
        address: s.taskAddress,
        version: s.taskApiVersion,
      };
    },
    async shutdown(req) {
      await sandboxer.shutdown(id(req.sandboxId));
      return {};
    },
    async metrics(req) {
      const stats = await sandboxer.metrics(id(req.sandboxId));
      return { metrics: { timestamp: timestampFromDate(new Date()), id: req.sandboxId, data: packCgroupStats(stats) } };
    },
    async update(req) {
      await sandboxer.update(id(req.sandboxId), sandboxUpdateOf(req.sandbox, req.fields));
      return {};
    },
  };
}
