import assert from "node:assert/strict";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { describe, it } from "node:test";
import { HEADERS_TIMEOUT_MS } from "../../src/observe/metrics-server.js";
import { assertIsolated } from "../../testing/isolation.js";
import { assertFootprintBounded, fuzzDaemon } from "./fuzz-daemon.js";
import { eventually, footprint, fuzzSeed, inParallel, oneShot, Prng } from "./fuzz-kit.js";

assertIsolated();

const INPUTS = 2000;
const HOST = "127.0.0.1";
const VALID = "GET /metrics HTTP/1.1\r\nHost: kuasar\r\n\r\n";

/** Requests that are junk, damaged HTTP, wrong methods and paths, oversized headers, or cut short. */
function badInput(r: Prng): Buffer {
  switch (r.int(6)) {
    case 0:
      return r.junk(4096);
    case 1:
      return r.mutate(Buffer.from(VALID));
    case 2: {
      const method = r.pick(["POST", "PUT", "DELETE", "HEAD", "OPTIONS", "BREW", r.junk(6).toString("latin1")]);
      const path = r.pick(["/", "/metrics/..", "/metrics%00", "//metrics", "/debug", `/${"a".repeat(9000)}`]);
      return Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello`);
    }
    case 3:
      return Buffer.from(`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(20_000 + r.int(40_000))}\r\n\r\n`);
    case 4:
      return Buffer.from(`GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n${r.junk(64).toString("latin1")}`);
    default:
      return Buffer.from(VALID.repeat(1 + r.int(8))); // pipelined scrapes
  }
}

/** One scrape over a fresh connection: its status and body. */
function scrape(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: HOST, port, path: "/metrics", agent: false, timeout: 20_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("scrape timed out")));
    req.on("error", reject);
    req.end();
  });
}

describe("fuzz: kuasard's Prometheus metrics endpoint", () => {
  it(`${INPUTS} malformed HTTP requests and stalled clients: each answered with an error status or cut, scrapes still served`, async (t) => {
    const d = await fuzzDaemon(t, `metrics_address = "${HOST}:0"`);
    const served = d
      .logs()
      .split("\n")
      .map((l) => {
        try {
          return JSON.parse(l) as { msg?: string; metrics_address?: string };
        } catch {
          return {};
        }
      })
      .find((l) => l.msg === "serving Prometheus metrics");
    assert.ok(served?.metrics_address, "the daemon says where it serves metrics");
    const port = Number(served.metrics_address.split(":").pop());
    const r = new Prng(fuzzSeed("metrics endpoint"));
    const before = footprint(d.pid);
    const first: number[] = [];
    const second: number[] = [];
    const statuses = new Map<string, number>();
    await inParallel(INPUTS, 16, async (i) => {
      const out = (await oneShot({ host: HOST, port }, badInput(r), { graceMs: 2000 })).toString("latin1");
      const status = /^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? (out ? "other" : "cut");
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      // Nothing but a well-formed GET /metrics may get 200, and a 200 carries the metrics.
      if (status === "200") assert.match(out, /kuasar_pods/);
      if (i % 100 === 0) (i < INPUTS / 2 ? first : second).push(footprint(d.pid).rssKiB);
    });
    process.stderr.write(`fuzz metrics endpoint: ${JSON.stringify(Object.fromEntries(statuses))}\n`);
    assert.ok((statuses.get("404") ?? 0) > 0 && (statuses.get("400") ?? 0) > 0 && (statuses.get("431") ?? 0) > 0, "wrong paths, damaged requests and oversized headers each get their status");

    // Clients that open more connections than the limit and send half a request: the server cuts
    // them once the header deadline passes, and a scrape gets through again.
    const stalled: Socket[] = [];
    for (let i = 0; i < 100; i++) {
      const s = connect({ host: HOST, port });
      s.on("error", () => {});
      s.resume(); // read (and drop) the server's answer, so its close is seen
      s.write("GET /metrics HTTP/1.1\r\nHost: slow\r\n");
      stalled.push(s);
    }
    const closed = () => stalled.filter((s) => s.destroyed || s.readableEnded).length;
    try {
      assert.ok(await eventually(() => closed() === stalled.length, HEADERS_TIMEOUT_MS * 4), `the server cut every stalled client (${closed()} of ${stalled.length})`);
      const ok = await scrape(port);
      assert.equal(ok.status, 200);
      assert.match(ok.body, /^# HELP kuasar_pods /m);
    } finally {
      for (const s of stalled) s.destroy();
    }
    await assertFootprintBounded("metrics endpoint", d.pid, before, first, second);
  });
});
