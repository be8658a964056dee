import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../../log/logger.js";
import { fileDigest, templateKey, type TemplateIdentity } from "./template-shape.js";

/** A template on disk: the guest RAM file and the saved device state that go together. */
export interface Template {
  key: string;
  dir: string;
  /** Guest RAM as the template left it (restored VMs map it, or copy it). */
  memoryFile: string;
  /** Device state saved with QEMU migration (`x-ignore-shared`: RAM left out). */
  stateFile: string;
  identity: TemplateIdentity;
  /** How restored VMs get the pod's share, as the template's guest allows (see {@link TemplateShare}). */
  share: TemplateShare;
}

/**
 * `virtio-9p`: the guest has 9p, so each restored VM maps the template's RAM privately
 * (copy-on-write: pages it never writes stay shared between VMs) and QEMU serves the share.
 * `virtio-fs`: each restored VM maps its own copy of the RAM, shared with its virtiofsd.
 */
export type TemplateShare = "virtio-9p" | "virtio-fs";

/** What `template.json` records beside the two files. */
interface TemplateMeta {
  key: string;
  identity: TemplateIdentity;
  /** Absent in templates older than the 9p share: theirs is virtio-fs. */
  share?: TemplateShare;
  memoryBytes: number;
  stateSha256: string;
  builtAt: string;
  buildMs: number;
}

/** Makes a template's two files (the QEMU builder, see template-builder.ts); `dir` is private to it. Resolves with the share its guest allows. */
export type TemplateBuilder = (out: { dir: string; memoryFile: string; stateFile: string }) => Promise<{ share: TemplateShare }>;

const META = "template.json";
const MEMORY = "memory";
const STATE = "state";
const BUILDING = ".build-";
/** In a build dir: the pid of the VM being built, so that a build its daemon left is stopped. */
export const BUILD_VM_PID = "vm.pid";

/**
 * VM templates under `<state dir>/templates/<key>/`, one per shape (see template-shape.ts).
 * A template is built in a private directory and renamed into place whole, so a reader sees
 * a complete one or none; one that fails its checks is removed with a warning (the pod boots
 * instead, and the next start builds it anew).
 */
export class TemplateStore {
  private readonly building = new Map<string, Promise<Template>>();

  constructor(
    readonly root: string,
    private readonly log: Logger,
  ) {}

  /** The template of this identity, if one is there and whole; a broken one is removed. */
  find(identity: TemplateIdentity): Template | undefined {
    const key = templateKey(identity);
    const dir = join(this.root, key);
    let meta: TemplateMeta;
    try {
      meta = JSON.parse(readFileSync(join(dir, META), "utf8")) as TemplateMeta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        if (existsDir(dir)) this.discard(dir, "its template.json is missing");
        return undefined;
      }
      this.discard(dir, `its template.json is unreadable (${(err as Error).message})`);
      return undefined;
    }
    const t: Template = { key, dir, memoryFile: join(dir, MEMORY), stateFile: join(dir, STATE), identity, share: meta.share ?? "virtio-fs" };
    const problem = this.check(t, meta);
    if (problem) {
      this.discard(dir, problem);
      return undefined;
    }
    markUsed(dir);
    return t;
  }

  /** The template of this identity, built first if there is none (one build per key at a time). */
  obtain(identity: TemplateIdentity, build: TemplateBuilder): Promise<Template> {
    const found = this.find(identity);
    if (found) return Promise.resolve(found);
    const key = templateKey(identity);
    let p = this.building.get(key);
    if (!p) {
      p = this.build(key, identity, build).finally(() => this.building.delete(key));
      this.building.set(key, p);
    }
    return p;
  }

  /** Removes a template found broken in use (its restore failed): the next start builds it again. */
  discardBroken(t: Template, reason: string): void {
    this.discard(t.dir, reason);
  }

  /**
   * Removes every template `current` rejects (made for a kernel, initrd, agent, QEMU or command
   * line no longer configured; `identity` undefined: unreadable) and builds left half-done by a
   * crash; returns what it removed.
   */
  prune(current: (key: string, identity: TemplateIdentity | undefined) => boolean): string[] {
    const removed: string[] = [];
    let entries: string[];
    try {
      entries = readdirSync(this.root);
    } catch {
      return removed;
    }
    for (const e of entries) {
      const inBuild = e.startsWith(BUILDING);
      if (inBuild ? !builderGone(e) : current(e, this.identityIn(e))) continue; // a build under way (ours, kuasar-ctl's) stays
      if (inBuild) stopLeftVm(join(this.root, e));
      rmSync(join(this.root, e), { recursive: true, force: true });
      removed.push(e);
      this.log.info({ template: e }, inBuild ? "removed an unfinished VM template build" : "removed a stale VM template");
    }
    return removed;
  }

  /** Keeps at most `max` templates: the least recently used go first. */
  evict(max: number): string[] {
    const used = this.list()
      .map((key) => ({ key, at: lastUse(join(this.root, key)) }))
      .sort((a, b) => b.at - a.at);
    const gone = used.slice(max).map((u) => u.key);
    for (const key of gone) {
      rmSync(join(this.root, key), { recursive: true, force: true });
      this.log.info({ template: key }, "removed the least recently used VM template");
    }
    return gone;
  }

  private identityIn(key: string): TemplateIdentity | undefined {
    try {
      return (JSON.parse(readFileSync(join(this.root, key, META), "utf8")) as TemplateMeta).identity;
    } catch {
      return undefined;
    }
  }

  /** Keys of the templates present (whole or not). */
  list(): string[] {
    try {
      return readdirSync(this.root).filter((e) => !e.startsWith(BUILDING));
    } catch {
      return [];
    }
  }

  private async build(key: string, identity: TemplateIdentity, build: TemplateBuilder): Promise<Template> {
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    const tmp = join(this.root, `${BUILDING}${key}-${process.pid}-${Date.now()}`);
    mkdirSync(tmp, { mode: 0o700 });
    const started = Date.now();
    try {
      const { share } = await build({ dir: tmp, memoryFile: join(tmp, MEMORY), stateFile: join(tmp, STATE) });
      const meta: TemplateMeta = {
        key,
        identity,
        share,
        memoryBytes: statSync(join(tmp, MEMORY)).size,
        stateSha256: sha256(join(tmp, STATE)),
        builtAt: new Date().toISOString(),
        buildMs: Date.now() - started,
      };
      writeFileSync(join(tmp, META), `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o600 });
      const dir = join(this.root, key);
      try {
        renameSync(tmp, dir);
      } catch (err) {
        // Another builder (kuasar-ctl, another daemon) got there first: theirs is as good.
        if (!["ENOTEMPTY", "EEXIST"].includes((err as NodeJS.ErrnoException).code ?? "")) throw err;
        rmSync(tmp, { recursive: true, force: true });
      }
      this.log.info({ template: key, build_ms: meta.buildMs, share }, "VM template built");
      const t = this.find(identity);
      if (!t) throw new Error(`VM template ${key} failed its checks right after its build`);
      return t;
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  private check(t: Template, meta: TemplateMeta): string | undefined {
    if (meta.key !== t.key || templateKey(meta.identity) !== t.key) return "its template.json names another shape";
    if (meta.identity.accelerator !== t.identity.accelerator) return `it was made under ${meta.identity.accelerator}`;
    let memory;
    try {
      memory = statSync(t.memoryFile).size;
    } catch {
      return "its memory file is missing";
    }
    if (memory !== meta.memoryBytes || memory !== t.identity.memoryMb * 2 ** 20) return `its memory file is ${memory} bytes, not ${t.identity.memoryMb} MiB`;
    try {
      // Hashed again whenever the file changed (size, mtime, inode), not for every pod.
      if (fileDigest(t.stateFile) !== meta.stateSha256) return "its device state does not match its checksum";
    } catch {
      return "its device state file is missing";
    }
    return undefined;
  }

  private discard(dir: string, reason: string): void {
    this.log.warn({ template: dir, reason }, "VM template unusable: removed (pods boot instead until it is rebuilt)");
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Last use is the mtime of the template's directory: set on every find. */
function markUsed(dir: string): void {
  const now = new Date();
  try {
    utimesSync(dir, now, now);
  } catch {
    // gone meanwhile: the next find says so
  }
}

function lastUse(dir: string): number {
  try {
    return statSync(dir).mtimeMs;
  } catch {
    return 0;
  }
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function existsDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Kills the VM a crashed build left running: only if its command line names the build dir (the pid is not reused by another). */
function stopLeftVm(buildDir: string): void {
  try {
    const pid = Number(readFileSync(join(buildDir, BUILD_VM_PID), "utf8"));
    if (pid > 0 && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(buildDir)) process.kill(pid, "SIGKILL");
  } catch {
    // no VM recorded, or gone
  }
}

/** A build dir `.build-<key>-<pid>-<ms>` whose process is gone was left by a crash. */
function builderGone(entry: string): boolean {
  const pid = Number(entry.split("-").at(-2));
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}
