import { accessSync, constants, statSync } from "node:fs";
import { join } from "node:path";

/** The absolute path of an executable: `name` itself when it has a slash, else the first match on PATH. */
export function which(name: string, path = process.env["PATH"] ?? ""): string | undefined {
  const candidates = name.includes("/") ? [name] : path.split(":").map((d) => join(d || ".", name));
  for (const p of candidates) {
    try {
      if (!statSync(p).isFile()) continue;
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}
