import { channel } from "node:diagnostics_channel";

/**
 * How long each phase of a pod's life took (Sandbox Create, Start, Stop, Shutdown, and
 * the steps of a Start), announced for the metrics when they are enabled.
 */
export const podPhaseChannel = channel("kuasar:pod:phase");

/** One finished phase. */
export interface PodPhase {
  readonly kind: string;
  /** `create`, `start`, `stop`, `remove`; a step of Start is `start.<step>` (`start.holder`, `start.engine`). */
  readonly phase: string;
  readonly seconds: number;
  readonly ok: boolean;
}

/** Announces a finished phase when anyone listens. */
export function announcePhase(kind: string, phase: string, startedNs: bigint, ok: boolean): void {
  if (!podPhaseChannel.hasSubscribers) return;
  podPhaseChannel.publish({ kind, phase, seconds: Number(process.hrtime.bigint() - startedNs) / 1e9, ok } satisfies PodPhase);
}
