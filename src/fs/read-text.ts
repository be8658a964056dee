import { readFileSync } from "node:fs";

/** A UTF-8 file's text, or `fallback` when it cannot be read (not written yet, removed...). */
export function readTextOr(path: string, fallback = ""): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}
