import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError, isErrorCode } from "../errors/runtime-error.js";
import { Sandbox } from "../gen/containerd/runtime/sandbox/v1/sandbox_pb.js";
import type { Logger } from "../log/logger.js";
import { podConfigFromAny } from "../sandbox/cri-pod-config.js";
import { validateId } from "../sandbox/id.js";
import { criStateString, timestampOf as ts } from "../sandbox/sandbox-wire.js";
import type { Sandboxer } from "../sandbox/sandboxer.js";
import { packCgroupStats } from "../task/task-service.js";
import type { CallContext } from "../ttrpc/server.js";
import type { ServiceImpl } from "../ttrpc/service.js";
import { DELETED_MARKER } from "./bridge-tasks.js";
import { chooseSandboxer, sandboxerFromBundle, sandboxOwner } from "./sandboxer-choice.js";

/**
 * The shim's own sandbox service (`containerd.runtime.sandbox.v1.Sandbox`), which
 * containerd 2.x calls on the shim's address when a runtime handler says
 * `sandboxer = "shim"`. Served on the bridge's route, so one resident bridge is the
 * "shim" of every pod: each call goes to the sandboxer holding the pod, chosen at
 * CreateSandbox by the same rules as the bridge's (annotation, runtime handler, default).
 * App containers then arrive on the bridge's Task API like any pod's.
 */
export function shimSandboxServiceImpl(
  sandboxers: ReadonlyMap<string, Sandboxer>,
  defaultKind: string,
  namespaceOf: (md: CallContext["metadata"]) => string,
  log: Logger,
): ServiceImpl<typeof Sandbox> {
  /** Bundle of each sandbox created since this daemon started, for the launcher's deleted marker. */
  const bundles = new Map<string, string>();
  const owner = (sandboxId: string): { id: string; s: Sandboxer } => {
    const id = validateId("sandbox", sandboxId);
    const s = sandboxOwner(sandboxers, id);
    if (!s) throw new RuntimeError(Code.NotFound, `sandbox ${id} not found`);
    return { id, s };
  };
  return {
    async createSandbox(req, ctx) {
      const id = validateId("sandbox", req.sandboxId);
      const pod = podConfigFromAny(req.options);
      const annotations = { ...(pod?.annotations ?? {}), ...req.annotations };
      const s = chooseSandboxer(sandboxers, defaultKind, annotations, sandboxerFromBundle(req.bundlePath));
      await s.create({ id, namespace: namespaceOf(ctx.metadata), netnsPath: req.netnsPath, pod, annotations, labels: { ...(pod?.labels ?? {}) }, standalone: false });
      bundles.set(id, req.bundlePath);
      log.info({ sandbox_id: id, sandboxer: s.kind }, "sandbox created through the shim sandbox service");
      return {};
    },
    async startSandbox(req, ctx) {
      const { id, s } = owner(req.sandboxId);
      const st = await s.start(id, ctx.signal);
      return { pid: st.pid, createdAt: ts(st.createdAt) };
    },
    async platform(req) {
      const { id, s } = owner(req.sandboxId);
      return { platform: await s.platform(id) };
    },
    async stopSandbox(req) {
      const { id, s } = owner(req.sandboxId);
      await s.stop(id, req.timeoutSecs);
      return {};
    },
    async waitSandbox(req, ctx) {
      const { id, s } = owner(req.sandboxId);
      const e = await s.wait(id, ctx.signal);
      return { exitStatus: e.exitStatus, exitedAt: ts(e.exitedAt) };
    },
    async sandboxStatus(req) {
      const { id, s } = owner(req.sandboxId);
      const st = await s.status(id, req.verbose);
      return {
        sandboxId: st.id,
        pid: st.pid,
        state: criStateString(st.state),
        info: st.info,
        createdAt: ts(st.createdAt),
        exitedAt: ts(st.exitedAt),
      };
    },
    async pingSandbox(req) {
      owner(req.sandboxId);
      return {};
    },
    async shutdownSandbox(req) {
      const id = validateId("sandbox", req.sandboxId);
      // Already gone is done: containerd only lets go of the sandbox's shim connection after a success.
      const s = sandboxOwner(sandboxers, id);
      if (s) {
        try {
          await s.shutdown(id);
        } catch (err) {
          if (!isErrorCode(err, Code.NotFound)) throw err;
        }
      }
      const bundle = bundles.get(id);
      bundles.delete(id);
      // containerd runs the launcher's `delete` once it closed the sandbox's connection: nothing is left to clean.
      if (bundle) await writeFile(join(bundle, DELETED_MARKER), "").catch((err: unknown) => log.debug({ err, sandbox_id: id }, "could not write the deleted marker"));
      return {};
    },
    async sandboxMetrics(req) {
      const { id, s } = owner(req.sandboxId);
      return { metrics: { timestamp: timestampFromDate(new Date()), id, data: packCgroupStats(await s.metrics(id)) } };
    },
  };
}
