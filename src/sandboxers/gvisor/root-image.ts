import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runCliCommand } from "../../oci-runtime/cli-command.js";
import { which } from "../../fs/which.js";
import { PAUSE_PATH } from "./sandbox-spec.js";

/** The directories gVisor mounts its own filesystems on, which a read-only root must already have. */
const MOUNT_POINTS = ["dev", "proc", "sys", "tmp"];

/** Bumped when the image's layout changes, so a daemon upgrade builds a new one. */
const LAYOUT = "1";

/** What {@link ensureRootImage} needs. */
export interface RootImageOptions {
  /** The static pause program the image holds at `/pause`. */
  pauseBinary: string;
  /** Where the image is kept (one file per pause program, by content). */
  dir: string;
  /** `mkfs.erofs` (erofs-utils), a name looked up on PATH or a path. */
  mkfs: string;
  timeoutMs: number;
}

/** The image's path, or "" and why there is none. */
export interface RootImage {
  path: string;
  reason: string;
}

/**
 * The read-only EROFS image a gvisor pod's root container boots from: the pause
 * program and the mount points, nothing else. runsc opens it itself (the
 * `dev.gvisor.spec.rootfs.*` annotations), so the root container needs no gofer
 * process: one Go program (about 4.5 MB) less per pod, for its whole life, and two
 * Go program starts less in its start.
 *
 * Built once per pause program (named by its digest, so every pod of every daemon
 * on the node shares one file) with `mkfs.erofs`; its data blocks are not inlined
 * into the inode, because gVisor's EROFS reader cannot map a tail-packed executable
 * ("bad address" loading it). Older images of other pause programs are removed:
 * sandboxes that booted from one keep it open.
 */
export async function ensureRootImage(o: RootImageOptions): Promise<RootImage> {
  const mkfs = which(o.mkfs);
  if (!mkfs) return { path: "", reason: `${o.mkfs} not found (Debian package erofs-utils)` };
  const digest = createHash("sha256").update(LAYOUT).update(readFileSync(o.pauseBinary)).digest("hex").slice(0, 16);
  const name = `pause-${digest}.erofs`;
  const path = join(o.dir, name);
  if (existsSync(path)) return { path, reason: "" };
  mkdirSync(o.dir, { recursive: true, mode: 0o755 });
  const staging = mkdtempSync(join(o.dir, ".build-"));
  try {
    const tree = join(staging, "tree");
    for (const d of MOUNT_POINTS) mkdirSync(join(tree, d), { recursive: true, mode: 0o755 });
    const pause = join(tree, PAUSE_PATH.slice(1));
    copyFileSync(o.pauseBinary, pause);
    chmodSync(pause, 0o755);
    const image = join(staging, name);
    // -T0 and --all-root: the same bytes from the same program, whoever built it.
    await runCliCommand("mkfs.erofs", mkfs, [], ["--quiet", "--all-root", "-T0", "-Enoinline_data", image, tree], o.timeoutMs);
    renameSync(image, path);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  for (const f of readdirSync(o.dir)) {
    if (f !== name && /^pause-[0-9a-f]+\.erofs$/.test(f)) rmSync(join(o.dir, f), { force: true });
  }
  return { path, reason: "" };
}
