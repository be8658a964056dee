import type { Transitions } from "../state/transitions.js";

// The sandbox layer's view of the state machines: its own states here, the process states
// from the task layer below it and the transition check from state/.
export { transition, type Transitions } from "../state/transitions.js";
export { processTransitions, type ProcessState } from "../task/process-state.js";

/** A sandbox's life: created by Create, ready after Start, stopped after Stop or its holder's death. */
export type SandboxState = "created" | "ready" | "stopped";
export const sandboxTransitions: Transitions<SandboxState> = {
  created: ["ready", "stopped"],
  ready: ["stopped"],
  stopped: [],
};
