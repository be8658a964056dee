import type { Logger } from "../log/logger.js";
import type { MetricsSources } from "./kuasar-metrics.js";

/** What was started; close stops it all. */
export interface Observers {
  /** The metrics endpoint's port, when it serves (the kernel's choice when configured as 0). */
  metricsPort: number | undefined;
  close(): Promise<void>;
}

/**
 * Starts the metrics endpoint and the tracer the options ask for. Each is
 * loaded with a dynamic import only when enabled: a daemon with both off
 * carries none of prom-client or OpenTelemetry.
 */
/** What turns the observers on (kuasard's `metrics_address` and `[tracing]`). */
export interface ObserverOptions {
  metricsAddress: string;
  /** File that gets one JSON line per pod phase and RPC ("" writes none). */
  phaseLog: string;
  tracing: { otlpEndpoint: string; serviceName: string };
}

export async function startObservers(options: ObserverOptions, sources: MetricsSources, log: Logger): Promise<Observers> {
  const closers: (() => Promise<void>)[] = [];
  let metricsPort: number | undefined;
  try {
    if (options.metricsAddress !== "") {
      const { serveMetrics } = await import("./metrics-server.js");
      const m = await serveMetrics(options.metricsAddress, sources, log.child({ component: "metrics" }));
      metricsPort = m.address.port;
      closers.push(() => m.close());
    }
    if (options.phaseLog !== "") {
      const { PhaseLog } = await import("./phase-log.js");
      const p = new PhaseLog(options.phaseLog, log.child({ component: "phase-log" }));
      closers.push(() => p.close());
    }
    if (options.tracing.otlpEndpoint !== "") {
      const { RpcTracing } = await import("./rpc-tracing.js");
      const t = new RpcTracing(options.tracing, log.child({ component: "tracing" }));
      closers.push(() => t.close());
    }
  } catch (err) {
    await Promise.all(closers.map((c) => c()));
    throw err;
  }
  return { metricsPort, close: async () => void (await Promise.all(closers.map((c) => c()))) };
}
