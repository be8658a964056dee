import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { Endpoint as EndpointService } from "../gen/kuasar/endpoint/v1/endpoint_pb.js";
import type { Logger } from "../log/logger.js";
import { TtrpcServer } from "../ttrpc/server.js";
import { serveService } from "../ttrpc/service.js";
import { Relay } from "./relay.js";

/** Options of {@link Endpoint}. */
export interface EndpointOptions {
  /** Socket of the control API (`kuasar.endpoint.v1.Endpoint`) that kuasard calls. */
  controlPath: string;
  /** kuasard's internal ttrpc socket, where relayed calls go. */
  backendPath: string;
}

/**
 * kuasar-endpoint: owns the containerd-facing ttrpc sockets and connections
 * and relays every call to kuasard (docs/adr/0002-crash-domains.md).
 */
export class Endpoint {
  private readonly control = new TtrpcServer();
  private readonly listeners = new Map<string, { path: string; server: TtrpcServer }>();
  private readonly relay: Relay;

  constructor(
    private readonly options: EndpointOptions,
    private readonly log: Logger,
  ) {
    this.relay = new Relay({ backendPath: options.backendPath }, log.child({ component: "relay" }));
    serveService(this.control, EndpointService, {
      listen: async (req) => {
        await this.listen(req.route, req.path);
        return {};
      },
      status: async () => ({
        pid: process.pid,
        listeners: Object.fromEntries([...this.listeners].map(([route, l]) => [route, l.path])),
        connections: [...this.listeners.values()].reduce((n, l) => n + l.server.connectionCount, 0),
        pendingCalls: this.relay.pendingCalls,
        backendConnected: this.relay.connected,
      }),
    });
  }

  async start(): Promise<void> {
    await this.control.listen(this.options.controlPath);
  }

  /** Serves containerd on `path`, relaying under `route`. Same route and path again is a no-op. */
  async listen(route: string, path: string): Promise<void> {
    if (!route) throw new RuntimeError(Code.InvalidArgument, "route must not be empty");
    const have = this.listeners.get(route);
    if (have) {
      if (have.path === path) return;
      throw new RuntimeError(Code.AlreadyExists, `route ${route} already served on ${have.path}`);
    }
    const server = new TtrpcServer({ fallback: this.relay.handlerFor(route) });
    await server.listen(path);
    this.listeners.set(route, { path, server });
    this.log.info({ route, path }, "serving containerd");
  }

  /** Closes every socket; containerd sees its connections drop. Only for an operator's stop. */
  async destroy(): Promise<void> {
    this.relay.close();
    await Promise.all([this.control.destroy(), ...[...this.listeners.values()].map((l) => l.server.destroy())]);
  }
}
