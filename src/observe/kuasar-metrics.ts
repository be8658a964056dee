import { subscribe, unsubscribe } from "node:diagnostics_channel";
import promClient from "prom-client";
import { codeName } from "../errors/code.js";
import type { Sandboxer } from "../sandbox/sandboxer.js";
import { podPhaseChannel, type PodPhase } from "../diagnostics/pod-phase-channel.js";
import { rpcCallChannel, type RpcCall } from "../diagnostics/rpc-call-channel.js";

/** What the endpoint's Status control call says, when it answers. */
export interface EndpointCounts {
  connections: number;
  pendingCalls: number;
  relayGeneration: number;
  backendConnected: boolean;
}

/** Where the metrics come from; read at scrape time except the RPC and phase series. */
export interface MetricsSources {
  sandboxers: ReadonlyMap<string, Sandboxer>;
  /** The endpoint's counts, or undefined when it is not attached. */
  endpoint(): Promise<EndpointCounts | undefined>;
}

/** Buckets of RPC latencies (seconds): 1 ms to 2 min; Wait calls land in the last ones. */
const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];
/** Buckets of pod phases (seconds): a runc pod starts in tens of ms, a VM under TCG in seconds. */
const PHASE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * kuasard's Prometheus registry: pods and containers by kind and state, RPCs per
 * API method, pod phases, per-sandbox CPU and memory (cgroups, read on scrape),
 * the daemon's own process (RSS, fds, event-loop lag) and the endpoint's connections.
 */
export class KuasarMetrics {
  readonly registry = new promClient.Registry();
  private readonly onCall: (m: unknown) => void;
  private readonly onPhase: (m: unknown) => void;

  constructor(sources: MetricsSources) {
    const r = this.registry;
    promClient.collectDefaultMetrics({ register: r, prefix: "kuasar_daemon_" });
    new promClient.Gauge({
      name: "kuasar_pods",
      help: "Sandboxes held, by kind and state.",
      labelNames: ["kind", "state"],
      registers: [r],
      collect() {
        this.reset();
        for (const [kind, s] of sources.sandboxers) {
          for (const state of ["created", "ready", "stopped"]) this.set({ kind, state }, 0);
          for (const sb of s.inventory().sandboxes) this.inc({ kind, state: sb.state });
        }
      },
    });
    new promClient.Gauge({
      name: "kuasar_containers",
      help: "Containers held, by kind and state of their init process.",
      labelNames: ["kind", "state"],
      registers: [r],
      collect() {
        this.reset();
        for (const [kind, s] of sources.sandboxers) {
          for (const state of ["created", "running", "stopped"]) this.set({ kind, state }, 0);
          for (const c of s.inventory().containers) this.inc({ kind, state: c.state });
        }
      },
    });
    // One read of every ready sandbox's cgroups per scrape, shared by the CPU and memory series.
    const samples = sharedWhileInFlight(() => readSandboxes(sources.sandboxers));
    new promClient.Counter({
      name: "kuasar_sandbox_cpu_usage_seconds_total",
      help: "CPU time used by a ready sandbox (cgroup cpu usage of its containers), read on scrape.",
      labelNames: ["kind", "sandbox_id"],
      registers: [r],
      async collect() {
        this.reset();
        for (const x of await samples()) this.inc({ kind: x.kind, sandbox_id: x.id }, x.cpuSeconds);
      },
    });
    new promClient.Gauge({
      name: "kuasar_sandbox_memory_usage_bytes",
      help: "Memory used by a ready sandbox (cgroup memory usage of its containers), read on scrape.",
      labelNames: ["kind", "sandbox_id"],
      registers: [r],
      async collect() {
        this.reset();
        for (const x of await samples()) this.set({ kind: x.kind, sandbox_id: x.id }, x.memoryBytes);
      },
    });
    const rpcs = new promClient.Counter({
      name: "kuasar_rpc_requests_total",
      help: "RPCs answered, by API (sandbox: gRPC Sandbox API, task: Task API, shim: containerd 1.7 bridge), method and status code.",
      labelNames: ["api", "method", "code"],
      registers: [r],
    });
    const errors = new promClient.Counter({
      name: "kuasar_rpc_errors_total",
      help: "RPCs answered with a status other than OK, by API and method.",
      labelNames: ["api", "method"],
      registers: [r],
    });
    const latency = new promClient.Histogram({
      name: "kuasar_rpc_duration_seconds",
      help: "Time from a call's arrival to its answer, by API and method.",
      labelNames: ["api", "method"],
      buckets: RPC_BUCKETS,
      registers: [r],
    });
    const phases = new promClient.Histogram({
      name: "kuasar_pod_phase_duration_seconds",
      help: "Duration of pod phases (create, start and its steps start.holder/start.engine, stop, remove), by kind and result.",
      labelNames: ["kind", "phase", "result"],
      buckets: PHASE_BUCKETS,
      registers: [r],
    });
    // One Status call to the endpoint per scrape, shared by its series.
    const endpoint = sharedWhileInFlight(() => sources.endpoint().catch(() => undefined));
    const endpointGauge = (name: string, help: string, value: (st: EndpointCounts | undefined) => number) =>
      new promClient.Gauge({
        name,
        help,
        registers: [r],
        async collect() {
          this.set(value(await endpoint()));
        },
      });
    endpointGauge("kuasar_endpoint_up", "1 when kuasar-endpoint answers its Status call.", (st) => (st ? 1 : 0));
    endpointGauge("kuasar_endpoint_connections", "containerd connections kuasar-endpoint holds.", (st) => st?.connections ?? 0);
    endpointGauge("kuasar_endpoint_pending_calls", "Calls waiting in kuasar-endpoint for kuasard (queued or in flight).", (st) => st?.pendingCalls ?? 0);
    endpointGauge("kuasar_endpoint_backend_connected", "1 when kuasar-endpoint reaches kuasard's internal socket.", (st) => (st?.backendConnected ? 1 : 0));
    endpointGauge("kuasar_endpoint_relays_started", "Relays the endpoint's custody has started; above 1, a relay died and was replaced.", (st) => st?.relayGeneration ?? 0);
    this.onCall = (m) => {
      const call = m as RpcCall;
      const end = latency.startTimer({ api: call.api, method: call.method });
      call.onEnd.push((code) => {
        end();
        rpcs.inc({ api: call.api, method: call.method, code: codeName(code) });
        if (code !== 0) errors.inc({ api: call.api, method: call.method });
      });
    };
    this.onPhase = (m) => {
      const p = m as PodPhase;
      phases.observe({ kind: p.kind, phase: p.phase, result: p.ok ? "ok" : "error" }, p.seconds);
    };
    subscribe(rpcCallChannel.name, this.onCall);
    subscribe(podPhaseChannel.name, this.onPhase);
  }

  /** The exposition text of every series. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stops listening to calls and phases. */
  close(): void {
    unsubscribe(rpcCallChannel.name, this.onCall);
    unsubscribe(podPhaseChannel.name, this.onPhase);
    this.registry.clear();
  }
}

interface SandboxSample {
  kind: string;
  id: string;
  cpuSeconds: number;
  memoryBytes: number;
}

/** CPU and memory of every ready sandbox; one that is gone or has no cgroup yet gives no sample. */
async function readSandboxes(sandboxers: ReadonlyMap<string, Sandboxer>): Promise<SandboxSample[]> {
  const reads: Promise<SandboxSample | undefined>[] = [];
  for (const [kind, s] of sandboxers) {
    for (const sb of s.inventory().sandboxes) {
      if (sb.state !== "ready") continue;
      reads.push(
        s.metrics(sb.id).then(
          (st) => ({ kind, id: sb.id, cpuSeconds: Number(st.cpuUsageNs) / 1e9, memoryBytes: Number(st.memoryUsageBytes) }),
          () => undefined,
        ),
      );
    }
  }
  return (await Promise.all(reads)).filter((x): x is SandboxSample => x !== undefined);
}

/**
 * `read`, shared by every caller while one call is in flight: a scrape collects all
 * series at once, and the series fed by one read (a cgroup pass, the endpoint's
 * Status) must not each repeat it. The next scrape reads afresh.
 */
function sharedWhileInFlight<T>(read: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => {
    if (inFlight) return inFlight;
    const p = read().finally(() => {
      if (inFlight === p) inFlight = undefined;
    });
    inFlight = p;
    return p;
  };
}
