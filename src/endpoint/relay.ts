import { Code } from "../errors/code.js";
import { RuntimeError, isErrorCode } from "../errors/runtime-error.js";
import type { Logger } from "../log/logger.js";
import { TtrpcClient } from "../ttrpc/client.js";
import type { CallContext, UnaryHandler } from "../ttrpc/server.js";
import { ROUTE_KEY } from "./route.js";

/** Options of {@link Relay}. */
export interface RelayOptions {
  /** kuasard's internal ttrpc socket the relay forwards to. */
  backendPath: string;
  /** Methods safe to send again after kuasard died with them in flight. Default: the read-only and waiting task calls. */
  idempotentMethods: ReadonlySet<string>;
  /** Calls allowed to wait for kuasard at once; beyond it new calls fail with ResourceExhausted. Default 10000. */
  queueLimit: number;
  /** First re-dial delay after kuasard went away, in ms; doubles up to `redialMaxMs`. Default 50. */
  redialMinMs: number;
  /** Longest re-dial delay in ms. Default 1000. */
  redialMaxMs: number;
}

export const defaultRelayOptions: Omit<RelayOptions, "backendPath"> = {
  idempotentMethods: new Set(["Wait", "State", "Pids", "Connect", "Stats", "Status", "Ping", "Platform"]),
  queueLimit: 10_000,
  redialMinMs: 50,
  redialMaxMs: 1000,
};

/**
 * Forwards ttrpc calls to kuasard over one connection that it re-dials whenever
 * kuasard restarts. containerd's own connections never notice: calls made while
 * kuasard is away wait for it (until their deadline), and idempotent calls that
 * were in flight when it died are sent again.
 */
export class Relay {
  private readonly options: RelayOptions;
  private backend: TtrpcClient | undefined;
  private waiters: (() => void)[] = [];
  private waiting = 0;
  private dialing = false;
  private stopped = false;
  private redialTimer: NodeJS.Timeout | undefined;

  constructor(
    options: Partial<RelayOptions> & Pick<RelayOptions, "backendPath">,
    private readonly log: Logger,
  ) {
    this.options = { ...defaultRelayOptions, ...options };
    this.dial(this.options.redialMinMs);
  }

  /** Whether kuasard is connected now. */
  get connected(): boolean {
    return this.backend !== undefined && !this.backend.closed;
  }

  /** Calls waiting for kuasard plus calls in flight to it. */
  get pendingCalls(): number {
    return this.waiting + (this.backend?.inFlight ?? 0);
  }

  /** A server handler that relays every call it gets, tagged with `route`. */
  handlerFor(route: string): UnaryHandler {
    return (payload, ctx) => this.forward(route, payload, ctx);
  }

  /** Stops re-dialling and drops the backend connection. */
  close(): void {
    this.stopped = true;
    clearTimeout(this.redialTimer);
    this.backend?.destroy();
    for (const w of this.waiters.splice(0)) w();
  }

  private async forward(route: string, payload: Uint8Array, ctx: CallContext): Promise<Uint8Array> {
    const metadata = new Map(ctx.metadata);
    metadata.set(ROUTE_KEY, [route]);
    for (;;) {
      const backend = await this.backendFor(ctx.signal);
      const timeoutMs = ctx.deadlineMs === undefined ? undefined : Math.max(1, ctx.deadlineMs - Date.now());
      try {
        return await backend.call(ctx.service, ctx.method, payload, { metadata, timeoutMs, signal: ctx.signal });
      } catch (err) {
        // Only a connection that died under the call is retried, and only for calls safe to repeat.
        if (!isErrorCode(err, Code.Unavailable) || !backend.closed || ctx.signal.aborted) throw err;
        if (!this.options.idempotentMethods.has(ctx.method)) {
          throw new RuntimeError(Code.Unavailable, `kuasard restarted during ${ctx.method}; retry`, { cause: err });
        }
        this.log.info({ method: ctx.method, route }, "re-issuing call after kuasard restart");
      }
    }
  }

  /** The live backend connection, waiting for one (bounded by the call's signal and the queue limit). */
  private async backendFor(signal: AbortSignal): Promise<TtrpcClient> {
    while (!this.connected) {
      if (this.stopped) throw new RuntimeError(Code.Unavailable, "endpoint shutting down");
      if (this.waiting >= this.options.queueLimit) throw new RuntimeError(Code.ResourceExhausted, "too many calls waiting for kuasard");
      signal.throwIfAborted();
      this.waiting++;
      try {
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(RuntimeError.from(signal.reason));
          signal.addEventListener("abort", onAbort, { once: true });
          this.waiters.push(() => {
            signal.removeEventListener("abort", onAbort);
            resolve();
          });
        });
      } finally {
        this.waiting--;
      }
    }
    return this.backend!;
  }

  private dial(delayMs: number): void {
    if (this.stopped || this.dialing) return;
    this.dialing = true;
    TtrpcClient.connect(this.options.backendPath, { timeoutMs: 2000 }).then(
      (client) => {
        this.dialing = false;
        if (this.stopped) return client.destroy();
        this.backend = client;
        this.log.info({ backend: this.options.backendPath }, "kuasard connected");
        client.onClose((reason) => {
          this.log.warn({ err: reason }, "kuasard connection lost; re-dialling");
          this.dial(this.options.redialMinMs);
        });
        for (const w of this.waiters.splice(0)) w();
      },
      () => {
        this.dialing = false;
        const next = Math.min(delayMs * 2, this.options.redialMaxMs);
        this.redialTimer = setTimeout(() => this.dial(next), delayMs);
        this.redialTimer.unref();
      },
    );
  }
}
