/** What an environment helper needs of its owner: somewhere to register its teardown. */
export interface Teardowns {
  after(fn: () => unknown): void;
}

/**
 * Teardowns of an environment shared by the `it`s of one `describe`: set up once in
 * `before`, torn down in `after` (in the order registered, as a test's own `t.after`),
 * so each behaviour is its own `it` without a containerd and a kuasard per `it`.
 */
export class TeardownScope implements Teardowns {
  private readonly fns: Array<() => unknown> = [];

  after(fn: () => unknown): void {
    this.fns.push(fn);
  }

  /** Runs every teardown, each even when an earlier one failed; the first failure is rethrown at the end. */
  async run(): Promise<void> {
    let first: unknown;
    for (const fn of this.fns.splice(0)) {
      try {
        await fn();
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }
}
