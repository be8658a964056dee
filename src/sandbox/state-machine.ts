import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/** Allowed moves of a literal-union state: `from -> [to...]`. */
export type Transitions<S extends string> = { readonly [K in S]: readonly S[] };

/**
 * Checks a move against `table`; an illegal one throws FailedPrecondition
 * "invalid state transition: a => b". Returns the new state for chaining.
 */
export function transition<S extends string>(table: Transitions<S>, what: string, from: S, to: S): S {
  if (!table[from].includes(to)) {
    throw new RuntimeError(Code.FailedPrecondition, `${what}: invalid state transition: ${from} => ${to}`);
  }
  return to;
}

/** A sandbox's life: created by Create, ready after Start, stopped after Stop or its holder's death. */
export type SandboxState = "created" | "ready" | "stopped";
export const sandboxTransitions: Transitions<SandboxState> = {
  created: ["ready", "stopped"],
  ready: ["stopped"],
  stopped: [],
};

/** A process's life (a container's init or an exec), as containerd's Status enum sees it. */
export type ProcessState = "created" | "running" | "paused" | "stopped";
export const processTransitions: Transitions<ProcessState> = {
  created: ["running", "stopped"],
  running: ["paused", "stopped"],
  paused: ["running", "stopped"],
  stopped: [],
};
