/**
 * Where a container's exit is recorded on disk, so a process that is not the
 * daemon (the shim's `delete` while the bridge is down) can read the real status.
 * The bridge writes it into the task's bundle ({@link EXIT_SOURCE_FILE}) at Create.
 */
export interface ExitSource {
  /** The container's record (JSON): its init's pid, start time, and exit once the daemon saw it. */
  record: string;
  /** The pod supervisor's exit journal (`PID STATUS SEC NSEC ID` lines), kept while the daemon is away. */
  journal: string;
  /** How far the journal's clock may trail the host's, in ms (a guest's). */
  clockSkewMs: number;
  /**
   * A file where the init's waiter printed the container's status as `runsc wait` does
   * (`{"exitStatus":N}`): the journal then holds the waiter's exit, this the container's.
   */
  waiterResult?: string;
}

/** Name of the file in a task's bundle holding its {@link ExitSource} as JSON. */
export const EXIT_SOURCE_FILE = "kuasar-exit-source.json";
