/**
 * What happened to a task, in the runtime's own terms. The containerd adapter
 * (src/containerd/) turns these into `containerd.events.*` envelopes; the
 * domain never sees protobuf.
 */
export type TaskEvent =
  | {
      kind: "create";
      containerId: string;
      bundle: string;
      rootfs: readonly { type: string; source: string; target: string; options: readonly string[] }[];
      io: { stdin: string; stdout: string; stderr: string; terminal: boolean };
      checkpoint: string;
      pid: number;
    }
  | { kind: "start"; containerId: string; pid: number }
  | { kind: "exit"; containerId: string; /** process id: the container id for init, the exec id for an exec */ id: string; pid: number; exitStatus: number; exitedAt: Date }
  | { kind: "delete"; containerId: string; pid: number; exitStatus: number; exitedAt: Date }
  | { kind: "oom"; containerId: string }
  | { kind: "exec-added"; containerId: string; execId: string }
  | { kind: "exec-started"; containerId: string; execId: string; pid: number }
  | { kind: "paused"; containerId: string }
  | { kind: "resumed"; containerId: string };

/** Where task events go; injected so tests can collect them. */
export interface EventPublisher {
  /** Queues `event` for `namespace`; never throws, never blocks the caller. */
  publish(namespace: string, event: TaskEvent): void;
  /** Flushes what is queued (bounded by the retry policy), then stops. */
  close(): Promise<void>;
}
