import type { Transitions } from "../state/transitions.js";

/** A process's life (a container's init or an exec), as containerd's Status enum sees it. */
export type ProcessState = "created" | "running" | "paused" | "stopped";
export const processTransitions: Transitions<ProcessState> = {
  created: ["running", "stopped"],
  running: ["paused", "stopped"],
  paused: ["running", "stopped"],
  stopped: [],
};
