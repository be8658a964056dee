import { silentLogger } from "../../../src/log/logger.js";
import { type Clock, realClock } from "../../../src/time/clock.js";
import { PodRuntime } from "../../../src/pod/pod-runtime.js";
import { PodSandboxer } from "../../../src/pod/pod-sandboxer.js";
import type { EventPublisher, TaskEvent } from "../../../src/task/task-event.js";
import { FakeHost, type FakeWorld } from "./fake-host.js";
import { PodTasks } from "../../../src/pod/pod-tasks.js";
import { FakeRuntime } from "./fake-runtime.js";

/** An event publisher that keeps what it was given. */
export function recordingEvents(into: TaskEvent[]): EventPublisher {
  return { publish: (_ns, e) => void into.push(e), close: async () => {} };
}

/** Options of a sandboxer over `dir` (no real holder, no reconcile timer). */
export function fakeRuntimeOptions(dir: string) {
  return { dir, taskAddress: "ttrpc+unix:///run/fake-task.sock", holderBinary: "/nonexistent/kuasar-holder", shmSizeBytes: 1 << 20, reconcileIntervalMs: 0 };
}

/**
 * The fake kind, step 3 of docs/guides/adding-a-sandboxer-kind.md: the one
 * skeleton with the fake host strategy, and the one task backend with the fake
 * container runtime.
 */
export function createFakeSandboxer(dir: string, world: FakeWorld, events: EventPublisher, clock: Clock = realClock, reconcileIntervalMs = 0): { sandboxer: PodSandboxer; runtime: FakeRuntime; rt: PodRuntime } {
  const rt = new PodRuntime({ ...fakeRuntimeOptions(dir), reconcileIntervalMs }, silentLogger(), events, 0, clock);
  const tasks = new PodTasks(rt, (ops) => new FakeRuntime(ops));
  return { sandboxer: new PodSandboxer("fake", rt, tasks, new FakeHost(world)), runtime: tasks.runtime, rt };
}
