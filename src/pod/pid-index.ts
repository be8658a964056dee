import type { Pod } from "./pod.js";

/** Which container process a pid is. */
export interface PidOwner {
  containerId: string;
  execId: string;
}

/**
 * Container processes by (pod, pid). Pids are only unique within one pod's pid
 * space: each VM guest numbers its processes from 1, so two VM pods routinely
 * have a container process with the same pid.
 */
export class PidIndex {
  private readonly byKey = new Map<string, PidOwner>();

  get(pod: Pod, pid: number): PidOwner | undefined {
    return this.byKey.get(key(pod, pid));
  }

  set(pod: Pod, pid: number, owner: PidOwner): void {
    this.byKey.set(key(pod, pid), owner);
  }

  delete(pod: Pod, pid: number): void {
    this.byKey.delete(key(pod, pid));
  }
}

const key = (pod: Pod, pid: number) => `${pod.id}\0${pid}`;
