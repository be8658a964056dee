import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { isAtomicTempName, writeFileAtomic } from "../fs/atomic-write.js";
import { validateId } from "./id.js";

/** A record that could not be read back, and what was done with it. */
export interface DamagedRecord {
  id: string;
  reason: string;
  /** Where the bad bytes were moved, kept for inspection. */
  quarantinedAs: string;
}

/**
 * One JSON file per record under a directory, written atomically (temp file,
 * rename: `writeFileAtomic`), so a crash leaves either the old or the new
 * record, never a mix. Ids are validated before they become paths.
 */
export class RecordStore<T> {
  constructor(
    readonly dir: string,
    private readonly kind: string,
    /** Checks a parsed record's shape; throws on a record that is not a T. */
    private readonly check: (value: unknown) => T,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /**
   * Writes `record` under `id`, replacing any previous one; on failure (a full
   * disk: ResourceExhausted) the previous record is left as it was.
   */
  put(id: string, record: T): void {
    writeFileAtomic(this.pathOf(id), JSON.stringify(record));
  }

  /** The record of `id`; NotFound when there is none. */
  get(id: string): T {
    const path = this.pathOf(id);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new RuntimeError(Code.NotFound, `${this.kind} ${id} not found`);
      throw RuntimeError.from(err);
    }
    return this.check(JSON.parse(text));
  }

  /** True when a record for `id` exists. */
  has(id: string): boolean {
    try {
      return existsSync(this.pathOf(id));
    } catch {
      return false; // an invalid id names no record
    }
  }

  /** Removes the record of `id`; a missing record is fine. */
  delete(id: string): void {
    rmSync(this.pathOf(id), { force: true });
  }

  /**
   * Loads every record. A record that does not parse or check (a torn write
   * from an older version, a disk error) is moved aside to `<id>.json.damaged`
   * and reported, never silently dropped; stale temp files are removed.
   */
  loadAll(): { records: Map<string, T>; damaged: DamagedRecord[] } {
    const records = new Map<string, T>();
    const damaged: DamagedRecord[] = [];
    for (const name of readdirSync(this.dir)) {
      if (isAtomicTempName(name)) {
        rmSync(join(this.dir, name), { force: true });
        continue;
      }
      if (!name.endsWith(".json")) continue;
      const id = name.slice(0, -".json".length);
      try {
        records.set(id, this.get(id));
      } catch (err) {
        const quarantinedAs = join(this.dir, `${name}.damaged`);
        renameSync(join(this.dir, name), quarantinedAs);
        damaged.push({ id, reason: (err as Error).message, quarantinedAs });
      }
    }
    return { records, damaged };
  }

  /** The file of record `id`. */
  pathOf(id: string): string {
    return join(this.dir, `${validateId(this.kind, id)}.json`);
  }
}
