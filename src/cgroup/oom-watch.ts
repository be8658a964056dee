import { type Clock, type ClockTimer, realClock } from "../time/clock.js";
import { oomCounterFile, oomKillsIn } from "./oom.js";

/**
 * Reports OOM kills in running containers' memory cgroups as they happen, by
 * polling each watched cgroup's `oom_kill` counter every `intervalMs` (one
 * small read per container): a v1 cgroup's files raise no inotify events and
 * its `cgroup.event_control` needs an eventfd, which Node does not have, so a
 * poll serves v1, v2 and the hybrid layout alike. Each poll reads only the file
 * found at watch time (no ENOENT thrown for the other version's, every 250 ms per
 * container). The timer runs only while something is watched and never keeps the process alive.
 */
export class OomWatch {
  private readonly watched = new Map<string, { file: string | undefined; seen: number }>();
  private timer: ClockTimer | undefined;

  constructor(
    private readonly intervalMs: number,
    /** Called once per poll that found `key`'s counter grown (`kills`: by how much, `total`: the counter). */
    private readonly onOom: (key: string, kills: number, total: number) => void,
    /** The poll's clock: the real one, a manual one in tests. */
    private readonly clock: Clock = realClock,
  ) {}

  /**
   * Watches `dir` for `key`: kills past `seen` are reported (a count persisted
   * before a restart), or past the counter as it is now when `seen` is undefined.
   */
  watch(key: string, dir: string, seen?: number): void {
    if (!dir) return;
    const file = oomCounterFile(dir);
    this.watched.set(key, { file, seen: seen ?? (file === undefined ? undefined : oomKillsIn(file)) ?? 0 });
    this.timer ??= this.clock.interval(this.intervalMs, () => this.pollAll());
  }

  has(key: string): boolean {
    return this.watched.has(key);
  }

  /** Checks `key` now (reporting kills not reported yet); true when it is watched. */
  poll(key: string): boolean {
    const w = this.watched.get(key);
    if (!w) return false;
    const n = w.file === undefined ? undefined : oomKillsIn(w.file);
    if (n !== undefined && n > w.seen) {
      const kills = n - w.seen;
      w.seen = n;
      this.onOom(key, kills, n);
    }
    return true;
  }

  unwatch(key: string): void {
    this.watched.delete(key);
    if (this.watched.size === 0 && this.timer) {
      this.timer.cancel();
      this.timer = undefined;
    }
  }

  close(): void {
    this.watched.clear();
    this.timer?.cancel();
    this.timer = undefined;
  }

  private pollAll(): void {
    for (const key of [...this.watched.keys()]) this.poll(key);
  }
}
