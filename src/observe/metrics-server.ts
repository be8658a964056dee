import { createServer, type Server } from "node:http";
import type { Logger } from "../log/logger.js";
import { KuasarMetrics, type MetricsSources } from "./kuasar-metrics.js";
import { parseListenAddress } from "./listen-address.js";

/** How long a connection may take to send its request headers. */
export const HEADERS_TIMEOUT_MS = 5000;

/** The running metrics endpoint. */
export interface MetricsEndpoint {
  readonly metrics: KuasarMetrics;
  /** Where it listens (the port the kernel chose when the config said 0). */
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` in Prometheus text format on `address` (`host:port`).
 * This module and prom-client are loaded only when `metrics_address` is set.
 */
export async function serveMetrics(address: string, sources: MetricsSources, log: Logger): Promise<MetricsEndpoint> {
  const { host, port } = parseListenAddress(address);
  const metrics = new KuasarMetrics(sources);
  // A scraper that stalls mid-request is cut after HEADERS_TIMEOUT_MS, checked every second, so
  // a few hostile connections cannot hold the 64 slots (and the real scrapes out) for minutes.
  const server: Server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics is served here\n");
      return;
    }
    metrics.scrape().then(
      (text) => res.writeHead(200, { "content-type": metrics.contentType }).end(text),
      (err: unknown) => {
        log.warn({ err }, "metrics scrape failed");
        res.writeHead(500, { "content-type": "text/plain" }).end(`scrape failed: ${(err as Error).message}\n`);
      },
    );
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.keepAliveTimeout = 5000;
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address();
  const actual = typeof bound === "object" && bound ? { host, port: bound.port } : { host, port };
  log.info({ metrics_address: `${host.includes(":") ? `[${host}]` : host}:${actual.port}` }, "serving Prometheus metrics");
  return {
    metrics,
    address: actual,
    close: () =>
      new Promise<void>((resolve) => {
        metrics.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
