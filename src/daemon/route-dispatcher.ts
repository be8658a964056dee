import { readFileSync } from "node:fs";
import { ROUTE_KEY, SHIM_ROUTE } from "../endpoint/route.js";
import { announceCall } from "../diagnostics/rpc-call-channel.js";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { PeerPidLookup } from "../fs/peer-pid.js";
import type { Logger } from "../log/logger.js";
import type { ServerBounds } from "../ttrpc/server-bounds.js";
import { TtrpcServer, type UnaryHandler } from "../ttrpc/server.js";

/** Bounds of kuasard's internal socket; kuasar-endpoint's connections are exempt from all of them. */
export type InternalSocketBounds = Omit<ServerBounds, "isTrusted">;

/** Defaults of {@link InternalSocketBounds}. */
export const defaultInternalSocketBounds: Readonly<InternalSocketBounds> = {
  maxConnections: 64,
  idleTimeoutMs: 60_000,
  partialFrameTimeoutMs: 10_000,
};

/**
 * Whether the process that connected (`pid`, from SO_PEERCRED, fixed at connect time) is
 * kuasar-endpoint: one of `endpoint` (its relay and custody), a relay custody forked since
 * (its parent is custody), or a process gone while its connection lives on (a relay that
 * died: custody kept its connections for the next relay).
 */
export function isEndpointPeer(pid: number, endpoint: ReadonlySet<number>): boolean {
  if (endpoint.has(pid)) return true;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return true; // gone, its connection held by another process
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z") return true;
  return endpoint.has(Number(fields[1]));
}

/**
 * kuasard's internal ttrpc server: every call arrives from kuasar-endpoint tagged
 * with the containerd-facing socket it came in on (its route), and is served by
 * the services registered for that route.
 *
 * Only the endpoint has business here, over as many connections as it likes: a
 * connection whose peer process (SO_PEERCRED) is a trusted pid is never limited
 * or timed out; any other is bounded (count, idle time, stalled frames).
 */
export class RouteDispatcher {
  private readonly routes = new Map<string, TtrpcServer>();
  private readonly peers = new PeerPidLookup();
  private trustedPids: () => Iterable<number> = () => [];
  readonly server: TtrpcServer;

  constructor(
    private readonly log?: Logger,
    bounds: Partial<InternalSocketBounds> = {},
  ) {
    this.server = new TtrpcServer({
      fallback: (payload, ctx) => this.dispatch(payload, ctx),
      ...defaultInternalSocketBounds,
      ...bounds,
      isTrusted: async (socket) => {
        const pid = await this.peers.pidOf(socket);
        const trusted = pid !== undefined && isEndpointPeer(pid, new Set(this.trustedPids()));
        if (!trusted) this.log?.warn({ peer_pid: pid ?? null }, "internal socket: a connection from outside kuasar-endpoint is bounded");
        return trusted;
      },
    });
  }

  /** Peers whose connections no bound closes (kuasar-endpoint); read each time a connection is judged. */
  trustPeers(pids: () => Iterable<number>): void {
    this.trustedPids = pids;
  }

  /** The registry of `route`: register services on it (it never listens itself). */
  route(route: string): TtrpcServer {
    let r = this.routes.get(route);
    if (!r) this.routes.set(route, (r = new TtrpcServer()));
    return r;
  }

  private dispatch: UnaryHandler = (payload, ctx) => {
    const route = ctx.metadata.get(ROUTE_KEY)?.[0];
    const registry = route === undefined ? undefined : this.routes.get(route);
    if (!registry) return Promise.reject(new RuntimeError(Code.Unimplemented, `no service for route ${JSON.stringify(route ?? "")}`));
    const handler = registry.lookup(ctx.service, ctx.method);
    if (typeof handler === "string") return Promise.reject(new RuntimeError(Code.Unimplemented, handler));
    const ended = announceCall(route === SHIM_ROUTE ? "shim" : "task", ctx.service, ctx.method, ctx.metadata);
    const reply = this.log?.isLevelEnabled("debug") ? this.logged(route!, handler(payload, ctx), ctx.method) : handler(payload, ctx);
    return ended ? observed(reply, ended) : reply;
  };

  private logged(route: string, p: Promise<Uint8Array>, method: string): Promise<Uint8Array> {
    const started = Date.now();
    return p.then(
      (reply) => {
        this.log!.debug({ route, method, ms: Date.now() - started }, "call ok");
        return reply;
      },
      (err: unknown) => {
        this.log!.debug({ route, method, ms: Date.now() - started, err }, "call failed");
        throw err;
      },
    );
  }
}

/** Reports how a call ended to whoever observes calls, passing its outcome on unchanged. */
function observed(p: Promise<Uint8Array>, ended: (code: number) => void): Promise<Uint8Array> {
  return p.then(
    (reply) => {
      ended(Code.OK);
      return reply;
    },
    (err: unknown) => {
      ended(RuntimeError.from(err).code);
      throw err;
    },
  );
}
