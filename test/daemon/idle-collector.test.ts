import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { announcePhase } from "../../src/diagnostics/pod-phase-channel.js";
import { IDLE_GC_MIN_INTERVAL_MS, IDLE_GC_QUIET_MS, IdleCollector } from "../../src/daemon/idle-collector.js";
import { ManualClock } from "../../testing/manual-clock.js";

describe("IdleCollector", () => {
  it("collects once the daemon is quiet after work, not while work goes on, and not when nothing happened", (t) => {
    const clock = new ManualClock();
    let gcs = 0;
    const idle = new IdleCollector(() => gcs++, clock);
    t.after(() => idle.close());
    clock.advance(IDLE_GC_MIN_INTERVAL_MS * 3);
    assert.equal(gcs, 0, "no work, no collection");
    for (let i = 0; i < 5; i++) {
      idle.work();
      clock.advance(IDLE_GC_QUIET_MS - 1);
    }
    assert.equal(gcs, 0, "work every less than the quiet period: none yet");
    clock.advance(1);
    assert.equal(gcs, 1, "quiet: one collection");
    clock.advance(IDLE_GC_MIN_INTERVAL_MS * 3);
    assert.equal(gcs, 1, "once per burst");
  });

  it("collects at most once per minimum interval, deferring a later burst's collection to it", (t) => {
    const clock = new ManualClock();
    let gcs = 0;
    const idle = new IdleCollector(() => gcs++, clock);
    t.after(() => idle.close());
    idle.work();
    clock.advance(IDLE_GC_QUIET_MS);
    assert.equal(gcs, 1);
    idle.work();
    clock.advance(IDLE_GC_QUIET_MS);
    assert.equal(gcs, 1, "too soon after the last one");
    clock.advance(IDLE_GC_MIN_INTERVAL_MS - IDLE_GC_QUIET_MS - 1); // the last one was at IDLE_GC_QUIET_MS
    assert.equal(gcs, 1);
    clock.advance(1);
    assert.equal(gcs, 2, "due at the interval's end, the daemon still quiet");
  });

  it("hears the daemon's pod phases on their diagnostics channel; close stops it", (t) => {
    const clock = new ManualClock();
    let gcs = 0;
    const idle = new IdleCollector(() => gcs++, clock).listen();
    t.after(() => idle.close());
    announcePhase("runc", "start", process.hrtime.bigint(), true);
    clock.advance(IDLE_GC_QUIET_MS);
    assert.equal(gcs, 1);
    idle.close();
    clock.advance(IDLE_GC_MIN_INTERVAL_MS);
    announcePhase("runc", "stop", process.hrtime.bigint(), true);
    clock.advance(IDLE_GC_MIN_INTERVAL_MS);
    assert.equal(gcs, 1, "closed: deaf");
  });
});
