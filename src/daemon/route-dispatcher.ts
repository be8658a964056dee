import { ROUTE_KEY } from "../endpoint/route.js";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import type { Logger } from "../log/logger.js";
import { TtrpcServer, type UnaryHandler } from "../ttrpc/server.js";

/**
 * kuasard's internal ttrpc server: every call arrives from kuasar-endpoint tagged
 * with the containerd-facing socket it came in on (its route), and is served by
 * the services registered for that route.
 */
export class RouteDispatcher {
  private readonly routes = new Map<string, TtrpcServer>();
  readonly server: TtrpcServer;

  constructor(private readonly log?: Logger) {
    this.server = new TtrpcServer({ fallback: (payload, ctx) => this.dispatch(payload, ctx) });
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
    if (!this.log?.isLevelEnabled("debug")) return handler(payload, ctx);
    const started = Date.now();
    return handler(payload, ctx).then(
      (reply) => {
        this.log!.debug({ route, method: ctx.method, ms: Date.now() - started }, "call ok");
        return reply;
      },
      (err: unknown) => {
        this.log!.debug({ route, method: ctx.method, ms: Date.now() - started, err }, "call failed");
        throw err;
      },
    );
  };
}
