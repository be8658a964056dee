/**
 * A Map that tells when it is empty: what "wait for the calls in flight" waits
 * on, woken by the last delete instead of polling the size.
 */
export class DrainableMap<K, V> extends Map<K, V> {
  private waiters: Array<() => void> = [];

  override delete(key: K): boolean {
    const had = super.delete(key);
    if (had && this.size === 0) this.wake();
    return had;
  }

  override clear(): void {
    super.clear();
    this.wake();
  }

  /** Resolves once the map is empty (at once if it is). */
  drained(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
