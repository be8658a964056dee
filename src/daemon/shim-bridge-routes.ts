import { BridgeTasks } from "../shim/bridge-tasks.js";
import { shimSandboxServiceImpl } from "../shim/shim-sandbox-service.js";
import { Sandbox } from "../gen/containerd/runtime/sandbox/v1/sandbox_pb.js";
import type { EventForwarder } from "../containerd/event-forwarder.js";
import type { Logger } from "../log/logger.js";
import type { Sandboxer } from "../sandbox/sandboxer.js";
import type { Metadata } from "../ttrpc/metadata.js";
import { serveService } from "../ttrpc/service.js";
import type { TtrpcServer } from "../ttrpc/server.js";
import { serveTaskApi } from "../task/task-service.js";

/**
 * The shim v2 bridge on its endpoint route: the Task API containerd 1.7 speaks to a shim, and
 * the shim Sandbox service containerd 2.x asks with `sandboxer = "shim"`. Its own module, loaded
 * only when `shim_listen` is set: a daemon without the bridge carries none of it.
 */
export function serveShimBridge(
  route: TtrpcServer,
  sandboxers: ReadonlyMap<string, Sandboxer>,
  defaultKind: string,
  events: EventForwarder,
  namespaceOf: (md: Metadata) => string,
  log: Logger,
  stopGraceSecs: number,
): void {
  const bridge = new BridgeTasks(sandboxers, defaultKind, events, log.child({ component: "shim-bridge" }), stopGraceSecs);
  serveTaskApi(route, bridge, namespaceOf);
  serveService(route, Sandbox, shimSandboxServiceImpl(sandboxers, defaultKind, namespaceOf, log.child({ component: "shim-sandbox" })));
}
