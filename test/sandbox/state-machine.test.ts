import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { processTransitions, sandboxTransitions, transition, type ProcessState, type SandboxState } from "../../src/sandbox/state-machine.js";

describe("state machines", () => {
  it("allows the sandbox life cycle and refuses going back", () => {
    let s: SandboxState = "created";
    s = transition(sandboxTransitions, "sandbox p1", s, "ready");
    s = transition(sandboxTransitions, "sandbox p1", s, "stopped");
    assert.throws(() => transition(sandboxTransitions, "sandbox p1", s, "ready"), {
      code: Code.FailedPrecondition,
      message: "sandbox p1: invalid state transition: stopped => ready",
    });
  });

  it("allows pause/resume only while running, and nothing after stopped", () => {
    const all: ProcessState[] = ["created", "running", "paused", "stopped"];
    const allowed = new Set(["created>running", "created>stopped", "running>paused", "running>stopped", "paused>running", "paused>stopped"]);
    for (const from of all) {
      for (const to of all) {
        const ok = allowed.has(`${from}>${to}`);
        if (ok) assert.equal(transition(processTransitions, "c", from, to), to);
        else assert.throws(() => transition(processTransitions, "c", from, to), { code: Code.FailedPrecondition }, `${from}>${to}`);
      }
    }
  });
});
