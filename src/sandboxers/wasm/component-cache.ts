import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { Code } from "../../errors/code.js";
import { codeFromErrno } from "../../errors/errno.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import type { Logger } from "../../log/logger.js";

/** What a transpiler makes of a component: its JS and core modules by file name, and its WIT imports and exports. */
export interface TranspiledComponent {
  /** File name (no directory) → bytes: `component.js` and its `*.core*.wasm`. */
  files: Record<string, Uint8Array>;
  /** The interfaces the component imports, unversioned (`wasi:cli/environment`). */
  imports: string[];
  /** The component's exports (`run`, `wasi:cli/run@0.2.x`). */
  exports: string[];
}

/** Turns a component into JS the node runner can load; `JcoTranspiler` in production, a fake in tests. */
export interface ComponentTranspiler {
  transpile(component: Uint8Array, options?: { signal?: AbortSignal }): Promise<TranspiledComponent>;
}

/**
 * The manifest of a cache entry, written last: an entry without one, or whose files do not
 * hash as it says, is not used (it is removed and made again).
 */
export interface ComponentManifest {
  /** The component's sha256 (the entry's name). */
  digest: string;
  /** File name → sha256 hex of its bytes. */
  files: Record<string, string>;
  imports: string[];
  exports: string[];
}

/** The entry point of a transpiled component in its cache entry. */
export const COMPONENT_JS = "component.js";
/** The manifest's name in a cache entry. */
export const MANIFEST = "manifest.json";

const TEMP_MARK = ".tmp-";
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Transpiled WASI preview 2 components, one directory per component named by the sha256 of
 * its bytes (`<dir>/<hex>/`), shared by every container of every pod that runs it.
 *
 * An entry is written in a temp directory beside it (`<hex>.tmp-<pid>-<n>`), its manifest
 * last, then renamed into place, so a crash or a full disk never leaves a half entry under
 * the final name; a failed write removes the temp directory and is a RuntimeError naming
 * the cause (a full disk is ResourceExhausted). Before use an entry's files are checked
 * against its manifest: a damaged one is removed and made again. Temp directories of an
 * earlier daemon (another pid) are removed on first use. Concurrent requests for one
 * component share one transpile.
 */
export class ComponentCache {
  private readonly pending = new Map<string, Promise<string>>();
  private swept = false;
  private seq = 0;

  constructor(
    /** The cache's directory (`<state dir>/wasm-components`), made 0700 on first use. */
    readonly dir: string,
    private readonly transpiler: ComponentTranspiler,
    private readonly log?: Logger,
  ) {}

  /** The directory of the transpiled component at `componentPath` (holding {@link COMPONENT_JS} and {@link MANIFEST}). */
  async transpiled(componentPath: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    let bytes: Buffer;
    try {
      bytes = await readFile(componentPath);
    } catch (err) {
      const e = RuntimeError.from(err);
      throw new RuntimeError(e.code, `wasm component ${componentPath}: cannot read it: ${e.message}`, { cause: err });
    }
    const digest = createHash("sha256").update(bytes).digest("hex");
    let entry = this.pending.get(digest);
    if (!entry) {
      entry = this.entry(digest, bytes, options.signal).finally(() => this.pending.delete(digest));
      this.pending.set(digest, entry);
    }
    return entry;
  }

  private async entry(digest: string, bytes: Uint8Array, signal?: AbortSignal): Promise<string> {
    await this.prepare();
    const final = join(this.dir, digest);
    const state = await checkEntry(final, digest);
    if (state === "ok") return final;
    if (state === "damaged") {
      this.log?.warn({ digest, dir: final }, "transpiled component damaged: made again");
      await rm(final, { recursive: true, force: true });
    }
    const started = performance.now();
    let out: TranspiledComponent;
    try {
      out = await this.transpiler.transpile(bytes, signal ? { signal } : {});
    } catch (err) {
      const e = RuntimeError.from(err, Code.InvalidArgument);
      throw new RuntimeError(e.code, `wasm component sha256:${digest}: cannot transpile it: ${e.message}`, { cause: err });
    }
    await this.write(final, digest, out);
    this.log?.info({ digest, ms: Math.round(performance.now() - started), files: Object.keys(out.files).length }, "component transpiled");
    return final;
  }

  /** Writes the entry aside and renames it into place; nothing is left behind on failure. */
  private async write(final: string, digest: string, out: TranspiledComponent): Promise<void> {
    const names = Object.keys(out.files);
    const bad = names.find((n) => !FILE_NAME.test(n) || n === MANIFEST);
    if (bad !== undefined) throw new RuntimeError(Code.Internal, `wasm component sha256:${digest}: the transpiler made a file named ${JSON.stringify(bad)}`);
    if (!names.includes(COMPONENT_JS)) throw new RuntimeError(Code.Internal, `wasm component sha256:${digest}: the transpiler made no ${COMPONENT_JS}`);
    const tmp = join(this.dir, `${digest}${TEMP_MARK}${process.pid}-${this.seq++}`);
    try {
      await mkdir(tmp, { mode: 0o700 });
      const files: Record<string, string> = {};
      for (const name of names) {
        const data = out.files[name]!;
        await writeFile(join(tmp, name), data, { mode: 0o400, flag: "wx" });
        files[name] = sha256(data);
      }
      const manifest: ComponentManifest = { digest, files, imports: out.imports, exports: out.exports };
      await writeFile(join(tmp, MANIFEST), JSON.stringify(manifest), { mode: 0o400, flag: "wx" });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw writeError(this.dir, digest, err);
    }
    try {
      await rename(tmp, final);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      const errno = (err as NodeJS.ErrnoException).code;
      // Another writer (an earlier call) put an entry there first: use it if it is whole.
      if ((errno === "ENOTEMPTY" || errno === "EEXIST") && (await checkEntry(final, digest)) === "ok") return;
      throw writeError(this.dir, digest, err);
    }
  }

  /** Makes the directory; removes temp entries an earlier daemon left (it died mid-write). */
  private async prepare(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw writeError(this.dir, "", err);
    }
    if (this.swept) return;
    this.swept = true;
    const mine = `${TEMP_MARK}${process.pid}-`;
    for (const name of await readdir(this.dir)) {
      if (name.includes(TEMP_MARK) && !name.includes(mine)) await rm(join(this.dir, name), { recursive: true, force: true });
    }
  }
}

/** Reads and checks the manifest of the entry at `dir`; `"missing"` when there is none at all. */
export async function checkEntry(dir: string, digest: string): Promise<"ok" | "missing" | "damaged"> {
  let manifest: ComponentManifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, MANIFEST), "utf8")) as ComponentManifest;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      try {
        await readdir(dir);
        return "damaged"; // the directory without its manifest
      } catch {
        return "missing";
      }
    }
    return "damaged";
  }
  if (manifest.digest !== digest || typeof manifest.files !== "object" || manifest.files === null || !(COMPONENT_JS in manifest.files)) return "damaged";
  for (const [name, hash] of Object.entries(manifest.files)) {
    try {
      if (!FILE_NAME.test(name) || sha256(await readFile(join(dir, name))) !== hash) return "damaged";
    } catch {
      return "damaged";
    }
  }
  return "ok";
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A failed write as a RuntimeError naming the cache and, for a full disk, saying so. */
function writeError(dir: string, digest: string, err: unknown): RuntimeError {
  const errno = (err as NodeJS.ErrnoException).code;
  const code = (typeof errno === "string" ? codeFromErrno(errno) : undefined) ?? Code.Internal;
  const why = errno === "ENOSPC" || errno === "EDQUOT" ? "no space left on device" : (err as Error).message;
  const what = digest ? `transpiled component sha256:${digest}` : "the component cache";
  return new RuntimeError(code, `cannot write ${what} in ${dir}: ${why}`, { cause: err });
}

/** @internal The cache entry's name for a temp directory, for tests. */
export function isComponentTempName(name: string): boolean {
  return basename(name).includes(TEMP_MARK);
}
