import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type TextMapGetter } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { codeName } from "../errors/code.js";
import type { Logger } from "../log/logger.js";
import type { Metadata } from "../ttrpc/metadata.js";
import { rpcCallChannel, type RpcCall } from "../diagnostics/rpc-call-channel.js";

/** Reads `traceparent`/`tracestate` from gRPC headers or ttrpc metadata (keys lower-cased). */
const metadataGetter: TextMapGetter<Metadata> = {
  keys: (md) => [...md.keys()],
  get: (md, key) => md.get(key.toLowerCase())?.[0],
};

/** Which RPC system a call came over, as OpenTelemetry names it. */
const rpcSystem = (api: RpcCall["api"]) => (api === "sandbox" ? "grpc" : "ttrpc");

/**
 * One OpenTelemetry span per Sandbox and Task API call, exported over OTLP/HTTP
 * (protobuf), a child of the caller's span when containerd sent `traceparent`.
 * This module and the OpenTelemetry packages are loaded only when tracing is configured.
 */
export class RpcTracing {
  private readonly provider: BasicTracerProvider;
  private readonly onCall: (m: unknown) => void;

  constructor(options: { otlpEndpoint: string; serviceName: string }, log: Logger) {
    const exporter = new OTLPTraceExporter({ url: options.otlpEndpoint });
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ "service.name": options.serviceName }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 })],
    });
    const tracer = this.provider.getTracer("kuasard");
    const propagator = new W3CTraceContextPropagator();
    this.onCall = (m) => {
      const call = m as RpcCall;
      const parent = propagator.extract(ROOT_CONTEXT, call.metadata, metadataGetter);
      const span = tracer.startSpan(
        `${call.service}/${call.method}`,
        { kind: SpanKind.SERVER, attributes: { "rpc.system": rpcSystem(call.api), "rpc.service": call.service, "rpc.method": call.method, "kuasar.api": call.api } },
        parent,
      );
      call.onEnd.push((code) => {
        span.setAttribute("rpc.grpc.status_code", code);
        if (code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: codeName(code) });
        span.end();
      });
    };
    subscribe(rpcCallChannel.name, this.onCall);
    log.info({ otlp_endpoint: options.otlpEndpoint }, "tracing Sandbox and Task API calls");
  }

  /** Stops tracing; spans not yet sent are flushed first. */
  async close(): Promise<void> {
    unsubscribe(rpcCallChannel.name, this.onCall);
    await this.provider.shutdown().catch(() => {});
  }
}
