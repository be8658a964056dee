import { subscribe } from "node:diagnostics_channel";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { EventForwarder } from "../containerd/event-forwarder.js";
import { SHIM_ROUTE, taskRoute } from "../endpoint/route.js";
import { Controller } from "../gen/containerd/services/sandbox/v1/sandbox_pb.js";
import { routeGrpcLogs } from "../grpc/route-grpc-logs.js";
import { GrpcServer } from "../grpc/server.js";
import { defaultHolderBinary } from "../holder/start-holder.js";
import type { Logger } from "../log/logger.js";
import { controllerServiceImpl } from "../sandbox/controller-service.js";
import type { Sandboxer } from "../sandbox/sandboxer.js";
import type { AnySandboxerKind } from "../sandboxers/sandboxer-kind.js";
import { serveTaskApi } from "../task/task-service.js";
import { connectionClosedChannel, type ConnectionClosedEvent } from "../ttrpc/diagnostics.js";
import { NAMESPACE_KEY } from "../ttrpc/metadata.js";
import { EndpointOutputKeeper } from "./endpoint-output-keeper.js";
import { BACKEND_SOCKET, ENDPOINT_SOCKET, ensureEndpoint, stateSocketPath, type EndpointHandle } from "./endpoint-launcher.js";
import { taskSocketPath, type KuasardOptions, type SandboxApi } from "./kuasard-options.js";
import { RouteDispatcher } from "./route-dispatcher.js";
import { ADMIN_SOCKET } from "../admin/admin-protocol.js";
import { adminHandler, type EndpointView } from "../admin/admin-handlers.js";
import { serveAdmin, type AdminServer } from "../admin/admin-server.js";
import { ObservedSandboxer } from "../observe/observed-sandboxer.js";
import { realClock } from "../time/clock.js";
import { startObservers, type Observers } from "../observe/start-observers.js";
import { type IdleCollector, startIdleCollector } from "./idle-collector.js";

/** Namespace used for task events when containerd sent none (ctr without `-n` uses "default"). */
const DEFAULT_NAMESPACE = "default";

/** A running kuasard: every enabled sandboxer, its Sandbox API socket and its Task API route. */
export class Kuasard {
  private readonly sandboxers = new Map<string, Sandboxer>();
  private readonly grpcServers: GrpcServer[] = [];
  private readonly dispatcher: RouteDispatcher;
  private readonly events: EventForwarder;
  private endpoint: EndpointHandle | undefined;
  private readonly outputKeeper = new EndpointOutputKeeper(() => this.endpoint);
  private closing: Promise<void> | undefined;
  private observers: Observers | undefined;
  private idleCollector: IdleCollector | undefined;
  private admin: AdminServer | undefined;

  constructor(
    private readonly options: KuasardOptions,
    private readonly log: Logger,
    /** The kinds `options` were read for (src/daemon/sandboxer-kinds.ts). */
    private readonly kinds: readonly AnySandboxerKind[],
  ) {
    const l = options.limits;
    this.dispatcher = new RouteDispatcher(log.child({ component: "ttrpc" }), {
      maxConnections: l.maxConnections,
      idleTimeoutMs: l.idleTimeoutMs,
      partialFrameTimeoutMs: l.stallTimeoutMs,
    });
    // kuasar-endpoint's connections are never bounded (whichever relay and custody run now).
    this.dispatcher.trustPeers(() => (this.endpoint ? [this.endpoint.pid, this.endpoint.custodyPid] : []));
    this.events = new EventForwarder({ address: options.containerdTtrpcAddress }, log.child({ component: "events" }));
  }

  /** Recovers state, then serves: internal socket first, endpoint routes, then the Sandbox API. */
  async start(): Promise<void> {
    const o = this.options;
    const log = this.log;
    subscribe(connectionClosedChannel.name, (m) => {
      const ev = m as ConnectionClosedEvent;
      if (ev.reason) log.warn({ err: ev.reason, side: ev.side, in_flight: ev.inFlight }, "ttrpc connection closed on error");
    });
    routeGrpcLogs(log);
    mkdirSync(o.stateDir, { recursive: true, mode: 0o711 });
    // Sockets too long for sun_path get a short name in SHORT_SOCKET_DIR (see src/fs/long-socket-path.ts).
    const sockets = [stateSocketPath(o.stateDir, BACKEND_SOCKET), stateSocketPath(o.stateDir, ENDPOINT_SOCKET), ...o.sandboxers.map((k) => taskSocketPath(o.sandboxer[k]))];
    for (const s of sockets) mkdirSync(dirname(s), { recursive: true, mode: 0o711 });
    const minOom = ownOomScoreAdj();
    for (const kind of o.sandboxers) {
      const so = o.sandboxer[kind];
      // 0711: containerd reaches task.sock; everything below is private (records 0700, pods 0700).
      mkdirSync(so.dir, { recursive: true, mode: 0o711 });
      const slog = log.child({ sandboxer: kind });
      const definition = this.kinds.find((k) => k.name === kind);
      if (definition === undefined) throw new Error(`no sandboxer kind ${kind}`); // resolveKuasardOptions checked the names
      const base = { dir: so.dir, taskAddress: `ttrpc+unix://${taskSocketPath(so)}`, holderBinary: defaultHolderBinary };
      const sandboxer = await definition.create(base, so.own, { log: slog, events: this.events, minOomScoreAdj: minOom, outputKeeper: this.outputKeeper, containerdTtrpcAddress: this.options.containerdTtrpcAddress });
      await sandboxer.recover();
      this.sandboxers.set(kind, new ObservedSandboxer(sandboxer, slog));
      serveTaskApi(this.dispatcher.route(taskRoute(kind)), sandboxer.tasks, (md) => md.get(NAMESPACE_KEY)?.[0] || DEFAULT_NAMESPACE);
      slog.info("sandboxer recovered");
    }
    if (o.shimListen) {
      // Loaded only when the bridge is served (it brings the shim API's generated code).
      const { serveShimBridge } = await import("./shim-bridge-routes.js");
      serveShimBridge(this.dispatcher.route(SHIM_ROUTE), this.sandboxers, o.sandboxers[0]!, this.events, (md) => md.get(NAMESPACE_KEY)?.[0] || DEFAULT_NAMESPACE, log, o.shimStopGraceSecs);
    }
    await this.dispatcher.server.listen(stateSocketPath(o.stateDir, BACKEND_SOCKET));
    await this.attachEndpoint();
    if (o.shimListen) log.info({ shim_listen: o.shimListen }, "serving the shim v2 bridge for containerd 1.7");
    for (const sandboxer of this.sandboxers.values()) {
      await sandboxer.releaseOrphanOutputs?.().catch((err: unknown) => log.warn({ err, sandboxer: sandboxer.kind }, "releasing outputs nobody writes failed"));
    }
    for (const [kind, sandboxer] of this.sandboxers) {
      const so = o.sandboxer[kind];
      const sockets: { path: string; api: SandboxApi }[] = [{ path: so.listen, api: so.sandboxApi }];
      if (so.kuasarIoListen) sockets.push({ path: so.kuasarIoListen, api: "kuasar-io" });
      for (const { path, api } of sockets) {
        const l = o.limits;
        const server = new GrpcServer({
          maxConnections: l.maxConnections,
          idleTimeoutMs: l.idleTimeoutMs,
          keepaliveTimeMs: l.pingIntervalMs,
          keepaliveTimeoutMs: l.stallTimeoutMs,
        });
        // One wire service name, two APIs: which one a socket speaks is configured, never guessed.
        // The fork's API (its generated code) is loaded only for a socket that speaks it.
        if (api === "kuasar-io") (await import("./kuasar-io-socket.js")).registerKuasarIo(server, sandboxer, so, DEFAULT_NAMESPACE);
        else server.register(Controller, controllerServiceImpl(sandboxer, DEFAULT_NAMESPACE));
        await server.listen(path);
        this.grpcServers.push(server);
        log.info({ sandboxer: kind, listen: path, sandbox_api: api, task: taskSocketPath(so) }, "serving Sandbox API");
      }
    }
    await this.serveOperators(new Date());
  }

  /** The admin socket (kuasar-ctl), and metrics and tracing when configured. */
  private async serveOperators(startedAt: Date): Promise<void> {
    const endpoint = () => this.endpointView();
    this.observers = await startObservers(this.options, { sandboxers: this.sandboxers, endpoint }, this.log);
    this.idleCollector = startIdleCollector(this.log);
    const o = this.options;
    const ctx = {
      sandboxers: this.sandboxers,
      options: o,
      startedAt,
      endpoint,
      metricsPort: () => this.observers?.metricsPort,
      taskSocketOf: (kind: string) => taskSocketPath(o.sandboxer[kind]!),
      programsOf: (kind: string) => this.kinds.find((k) => k.name === kind)?.programs(o.sandboxer[kind]!.own) ?? {},
    };
    this.admin = await serveAdmin(join(this.options.stateDir, ADMIN_SOCKET), adminHandler(ctx), this.log.child({ component: "admin" }));
  }

  /** The endpoint's own counts (its Status call), or undefined when it is not attached or does not answer. */
  private async endpointView(): Promise<EndpointView | undefined> {
    const e = this.endpoint;
    if (!e) return undefined;
    const st = await e.api.status({}, { timeoutMs: 2000 });
    return { pid: st.pid, custodyPid: st.custodyPid, connections: st.connections, pendingCalls: st.pendingCalls, relayGeneration: st.relayGeneration, backendConnected: st.backendConnected };
  }

  /**
   * Connects to kuasar-endpoint (starting it when none runs) and has it serve every route.
   * Watches the control connection: it drops whenever the endpoint's relay is replaced
   * (custody restarts it with containerd's connections intact) or the endpoint is gone
   * altogether; either way this attaches again, starting a new endpoint if needed, so
   * new pods always have a Task API to reach.
   */
  private async attachEndpoint(): Promise<void> {
    const o = this.options;
    const endpoint = await ensureEndpoint(o.stateDir, o.logLevel, this.log);
    const routes: [string, string][] = o.sandboxers.map((kind) => [taskRoute(kind), taskSocketPath(o.sandboxer[kind])]);
    if (o.shimListen) routes.push([SHIM_ROUTE, o.shimListen]);
    try {
      for (const [route, path] of routes) await endpoint.api.listen({ route, path }, { timeoutMs: 10_000 });
    } catch (err) {
      endpoint.client.destroy();
      throw err;
    }
    this.endpoint = endpoint;
    this.outputKeeper.attached();
    endpoint.client.onClose(() => {
      if (this.closing) return;
      this.log.warn({ endpoint_pid: endpoint.pid }, "kuasar-endpoint control connection lost; attaching again");
      void this.reattachEndpoint();
    });
  }

  private async reattachEndpoint(): Promise<void> {
    for (let delayMs = 50; !this.closing; delayMs = Math.min(delayMs * 2, 1000)) {
      try {
        await this.attachEndpoint();
        this.log.info({ endpoint_pid: this.endpointPid, custody_pid: this.custodyPid }, "kuasar-endpoint attached");
        return;
      } catch (err) {
        this.log.warn({ err }, "kuasar-endpoint not reachable yet");
        await realClock.sleep(delayMs); // the endpoint is another process coming back: retried with a doubling backoff
      }
    }
  }

  /** Pid of the endpoint's custody process. */
  get custodyPid(): number {
    return this.endpoint?.custodyPid ?? 0;
  }

  /** Pid of the kuasar-endpoint (relay) this daemon relays through. */
  get endpointPid(): number {
    return this.endpoint?.pid ?? 0;
  }

  /**
   * Stops serving and exits cleanly, touching no pod: holders, containers and
   * the endpoint (with containerd's connections) keep running. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.admin?.close();
      this.idleCollector?.close();
      await this.observers?.close();
      await Promise.all(this.grpcServers.map((s) => s.destroy()));
      await this.dispatcher.server.destroy();
      this.endpoint?.client.destroy();
      await Promise.all([...this.sandboxers.values()].map((s) => s.close()));
      await this.events.close();
    })();
    return this.closing;
  }
}

/** Our own oom_score_adj: without CAP_SYS_RESOURCE a child cannot go below it. */
function ownOomScoreAdj(): number {
  try {
    return Number(readFileSync("/proc/self/oom_score_adj", "utf8").trim()) || 0;
  } catch {
    return 0;
  }
}
