import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import { announcePhase } from "../../src/diagnostics/pod-phase-channel.js";
import { announceCall } from "../../src/diagnostics/rpc-call-channel.js";
import { PhaseLog, type PhaseLogLine } from "../../src/observe/phase-log.js";

describe("phase log", () => {
  it("writes one line per pod phase and per answered RPC, and nothing once closed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "phase-log-"));
    try {
      const path = join(dir, "phases.jsonl");
      const log = new PhaseLog(path, pino({ level: "silent" }));
      const before = Date.now();
      announcePhase("runc", "start.holder", process.hrtime.bigint() - 5_000_000n, true);
      const end = announceCall("task", "containerd.task.v3.Task", "Start", new Map());
      assert.ok(end !== undefined, "the phase log listens to RPCs");
      end(5);
      await log.close();
      announcePhase("runc", "stop", process.hrtime.bigint(), true);
      const lines = readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l) as PhaseLogLine);
      assert.equal(lines.length, 2);
      const [pod, rpc] = lines as [PhaseLogLine, PhaseLogLine];
      assert.deepEqual({ ...pod, at: 0, ms: 0 }, { at: 0, what: "pod", kind: "runc", phase: "start.holder", ms: 0, ok: true });
      assert.ok(pod.ms >= 5, `start.holder took ${pod.ms} ms`);
      assert.ok(pod.at >= before);
      assert.deepEqual({ ...rpc, at: 0, ms: 0 }, { at: 0, what: "rpc", api: "task", method: "Start", ms: 0, code: 5 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
