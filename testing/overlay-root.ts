import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

/** The system dirs a package install may write; each gets its own overlay. */
export const SYSTEM_DIRS = ["/etc", "/opt", "/usr", "/var"] as const;

/** `/` as this mount namespace sees it, made disposable: writes land in tmpfs upper dirs. */
export interface OverlayRoot {
  /**
   * What differs from the host now: every non-directory entry of an upper dir (a new or
   * changed file, a symlink, a whiteout for a deleted one) and every directory the host
   * lacks, as absolute paths; `ignore` drops paths (e.g. dpkg's own database).
   */
  changes(ignore?: (path: string) => boolean): string[];
  /** Unmounts everything it mounted (in reverse order) and removes its dirs. */
  close(): void;
}

const mount = (...args: string[]) => execFileSync("mount", args, { stdio: "pipe" });

/**
 * Puts an overlay on each of {@link SYSTEM_DIRS} (the host's dir, bound elsewhere first, as
 * its lower layer) and a fresh tmpfs on /run, in this process's private mount namespace
 * (the e2e isolation): a package can be installed and purged for real, the host never sees
 * it, and what it left is the upper dirs' content. Mounts in `keepMounts` (e.g. /var/lib/cni)
 * are hidden by the overlay, so fresh tmpfs go on them again.
 */
export function overlayRoot(keepMounts: readonly string[] = []): OverlayRoot {
  const base = mkdtempSync("/tmp/ovroot-");
  mount("-t", "tmpfs", "tmpfs", base);
  const mounted: string[] = [base];
  const lowerOf = (d: string) => join(base, "lower", d);
  const upperOf = (d: string) => join(base, "upper", d);
  try {
    for (const d of SYSTEM_DIRS) {
      for (const p of [lowerOf(d), upperOf(d), join(base, "work", d)]) mkdirSync(p, { recursive: true });
      mount("--bind", d, lowerOf(d));
      mounted.push(lowerOf(d));
      mount("-t", "overlay", "overlay", "-o", `lowerdir=${lowerOf(d)},upperdir=${upperOf(d)},workdir=${join(base, "work", d)}`, d);
      mounted.push(d);
    }
    for (const d of ["/run", ...keepMounts]) {
      mount("-t", "tmpfs", "tmpfs", d);
      mounted.push(d);
    }
  } catch (err) {
    unmountAll(mounted);
    throw err;
  }
  return {
    changes(ignore = () => false) {
      const out: string[] = [];
      const walk = (d: string, rel: string) => {
        for (const e of readdirSync(join(upperOf(d), rel), { withFileTypes: true })) {
          const r = join(rel, e.name);
          const abs = join(d, r);
          if (ignore(abs)) continue;
          if (e.isDirectory()) {
            if (!existsL(join(lowerOf(d), r))) out.push(`${abs}/`);
            walk(d, r);
          } else out.push(e.isCharacterDevice() ? `${abs} (deleted)` : abs);
        }
      };
      for (const d of SYSTEM_DIRS) walk(d, "");
      return out.sort();
    },
    close() {
      unmountAll(mounted);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

function existsL(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function unmountAll(mounted: string[]): void {
  for (const m of mounted.splice(0).reverse()) {
    try {
      execFileSync("umount", ["-l", m], { stdio: "pipe" });
    } catch {
      /* not mounted */
    }
  }
}
