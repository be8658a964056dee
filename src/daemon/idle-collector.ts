import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { podPhaseChannel } from "../diagnostics/pod-phase-channel.js";
import { rpcCallChannel } from "../diagnostics/rpc-call-channel.js";
import type { Logger } from "../log/logger.js";
import { type Clock, type ClockTimer, realClock } from "../time/clock.js";

/** How long the daemon must be quiet after work before its heap is collected, in ms. */
export const IDLE_GC_QUIET_MS = 1000;
/** The least time between two such collections, in ms: a steady trickle of calls costs one per this. */
export const IDLE_GC_MIN_INTERVAL_MS = 10_000;

/**
 * A full garbage collection once the daemon goes quiet after work (RPCs, pod phases). A burst of
 * pod starts leaves garbage that V8, left alone, keeps resident until its next collection, which
 * an idle daemon may not reach for a long time: at 200 pods kuasard's PSS moved by ±8 MB between
 * runs with the same pods. Collected when nothing is in flight to delay (a full collection of
 * this heap is a few ms to tens of ms), at most once per {@link IDLE_GC_MIN_INTERVAL_MS}. Needs
 * node's `--expose-gc` (in DAEMON_NODE_FLAGS); without it nothing is scheduled.
 */
export class IdleCollector {
  private timer: ClockTimer | undefined;
  private lastGcMs = -Infinity;
  private dirty = false;
  private readonly onWork = () => this.work();

  constructor(
    private readonly gc: () => void,
    private readonly clock: Clock = realClock,
    private readonly quietMs = IDLE_GC_QUIET_MS,
    private readonly minIntervalMs = IDLE_GC_MIN_INTERVAL_MS,
  ) {}

  /** Listens for the daemon's work on its diagnostics channels. */
  listen(): this {
    subscribe(rpcCallChannel.name, this.onWork);
    subscribe(podPhaseChannel.name, this.onWork);
    return this;
  }

  /** Some work was done: collect after the next quiet period. */
  work(): void {
    this.dirty = true;
    this.arm(this.quietMs);
  }

  close(): void {
    unsubscribe(rpcCallChannel.name, this.onWork);
    unsubscribe(podPhaseChannel.name, this.onWork);
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer?.cancel();
    this.timer = this.clock.timer(ms, () => this.quiet());
  }

  private quiet(): void {
    this.timer = undefined;
    if (!this.dirty) return;
    const wait = this.lastGcMs + this.minIntervalMs - this.clock.now();
    if (wait > 0) return this.arm(wait);
    this.dirty = false;
    this.lastGcMs = this.clock.now();
    this.gc();
  }
}

/** The daemon's idle collector, or undefined when node runs without `--expose-gc` (said once, at debug). */
export function startIdleCollector(log: Logger): IdleCollector | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    log.debug("node runs without --expose-gc: no collection when idle");
    return undefined;
  }
  return new IdleCollector(() => gc()).listen();
}
