import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { startSandboxer, tearDownKuasar } from "../../testing/kuasard.js";
import { eventually, footprint, type Footprint } from "./fuzz-kit.js";

/** A runc-sandboxer with no containerd (fuzzed sockets never reach one), short stall bounds. */
export interface FuzzDaemon {
  pid: number;
  endpointPid: number;
  custodyPid: number;
  /** Sandbox API (gRPC) socket. */
  listen: string;
  /** kuasard's internal ttrpc socket (`<state-dir>/kuasard.sock`). */
  internal: string;
  /** kuasard's state dir (its sockets, the endpoint's log). */
  stateDir: string;
  /** The Task API socket kuasar-endpoint serves for containerd. */
  task: string;
  logs(): string;
}

/** Limits the fuzz daemon runs with: stalled peers are cut after about a second. */
export const FUZZ_LIMITS = { maxConnections: 256, stallTimeoutMs: 500, pingIntervalMs: 500, idleTimeoutMs: 2000 };

/** The daemon's V8 old generation during fuzzing, in MiB. */
export const FUZZ_OLD_SPACE_MIB = 64;

/** What the daemon may keep after a run: a few fds (lazily opened files). */
const FD_SLACK = 4;
/**
 * RSS: the daemon runs with a {@link FUZZ_OLD_SPACE_MIB} MiB old generation, so it grows by its
 * working size (some 50 MiB) and then stays flat. Bounds: 96 MiB over the whole run, 16 MiB from
 * the peak over the first half of the calls to the peak over the second (a leak of 1 KiB per
 * call passes it, if it did not end in an out-of-memory crash first).
 */
const RSS_TOTAL_KIB = 96 * 1024;
const RSS_SECOND_HALF_KIB = 16 * 1024;

/**
 * After a fuzz run of `name` on the daemon `pid`: its fds come back within {@link FD_SLACK} of
 * `before`, its RSS stays within the bounds, comparing the RSS samples of the first and second
 * half of the calls. Prints the numbers to stderr.
 */
export async function assertFootprintBounded(name: string, pid: number, before: Footprint, firstHalf: readonly number[], secondHalf: readonly number[]): Promise<void> {
  const settled = await eventually(() => footprint(pid).fds <= before.fds + FD_SLACK, 10_000);
  const after = footprint(pid);
  process.stderr.write(`fuzz ${name}: fds ${before.fds} -> ${after.fds}, RSS ${before.rssKiB} -> peak ${Math.max(...firstHalf)} (first half of the calls) -> peak ${Math.max(...secondHalf)} (second half) -> ${after.rssKiB} KiB\n`);
  assert.ok(settled, `fds back within ${FD_SLACK} of ${before.fds}: ${after.fds}`);
  assert.ok(after.rssKiB - before.rssKiB < RSS_TOTAL_KIB, `RSS grew ${after.rssKiB - before.rssKiB} KiB (bound ${RSS_TOTAL_KIB})`);
  const halfGrowth = Math.max(...secondHalf) - Math.max(...firstHalf);
  assert.ok(halfGrowth < RSS_SECOND_HALF_KIB, `RSS peak grew ${halfGrowth} KiB from the first half of the calls to the second (bound ${RSS_SECOND_HALF_KIB})`);
}

/** `topConfig`: extra top-level config lines (e.g. `metrics_address = "127.0.0.1:0"`). */
export async function fuzzDaemon(t: TestContext, topConfig = ""): Promise<FuzzDaemon> {
  const dir = mkdtempSync("/tmp/kf-");
  const listen = join(dir, "runc.sock");
  const stateDir = join(dir, "ks");
  writeFileSync(
    join(dir, "config.toml"),
    `${topConfig ? `${topConfig}\n` : ""}[limits]\nmax_connections = ${FUZZ_LIMITS.maxConnections}\nstall_timeout_ms = ${FUZZ_LIMITS.stallTimeoutMs}\nping_interval_ms = ${FUZZ_LIMITS.pingIntervalMs}\nidle_timeout_ms = ${FUZZ_LIMITS.idleTimeoutMs}\n`,
  );
  // A small old generation makes V8 collect fully well before the run ends, so RSS shows what is
  // live, not what a lazy GC has yet to free; a real leak then ends in an out-of-memory crash.
  const nodeOptions = process.env["NODE_OPTIONS"];
  process.env["NODE_OPTIONS"] = `${nodeOptions ?? ""} --max-old-space-size=${FUZZ_OLD_SPACE_MIB}`.trim();
  const sb = startSandboxer({ program: "runc-sandboxer", listen, dir: join(dir, "kr"), containerdTtrpcAddress: join(dir, "none.sock"), args: ["--config", join(dir, "config.toml"), "--state-dir", stateDir] });
  if (nodeOptions === undefined) delete process.env["NODE_OPTIONS"];
  else process.env["NODE_OPTIONS"] = nodeOptions;
  let pids: number[] = [];
  t.after(() => tearDownKuasar(dir, () => ({ stateDir, pids }), () => sb.stop()));
  const { endpointPid, custodyPid } = await sb.ready;
  pids = [endpointPid, custodyPid];
  return { pid: sb.pid, endpointPid, custodyPid, listen, internal: join(stateDir, "kuasard.sock"), stateDir, task: join(dir, "kr", "task.sock"), logs: sb.logs };
}
