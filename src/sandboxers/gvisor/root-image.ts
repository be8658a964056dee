import { statSync } from "node:fs";

/** The image's path, or "" and why there is none. */
export interface RootImage {
  path: string;
  reason: string;
}

/**
 * The read-only EROFS image a gvisor pod's root container boots from: `/pause` and
 * the mount points gVisor needs, nothing else, built by `make -C native` beside the
 * pause program (`<pause>.erofs`) where erofs-utils is installed. runsc opens it
 * itself (the `dev.gvisor.spec.rootfs.*` annotations), so the root container needs no
 * gofer process: one Go program (about 4.5 MB) less per pod for its whole life, and
 * two Go program starts less in its start. An image older than the program it should
 * hold is not used (a rebuilt pause program whose image was not rebuilt).
 */
export function rootImageOf(pauseBinary: string): RootImage {
  const path = `${pauseBinary}.erofs`;
  let imageTime: number;
  try {
    imageTime = statSync(path).mtimeMs;
  } catch {
    return { path: "", reason: `no ${path} (make -C native builds it where mkfs.erofs, Debian package erofs-utils, is installed)` };
  }
  if (imageTime < statSync(pauseBinary).mtimeMs) return { path: "", reason: `${path} is older than ${pauseBinary}: make -C native builds it again` };
  return { path, reason: "" };
}
