import { readTextOr } from "../fs/read-text.js";

/** Memory in use by a cgroup dir (v2 `memory.current`, v1 `memory.usage_in_bytes`), or undefined when unreadable. */
export function cgroupMemoryBytes(dir: string): number | undefined {
  if (!dir) return undefined;
  const text = readTextOr(`${dir}/memory.current`) || readTextOr(`${dir}/memory.usage_in_bytes`);
  const n = Number(text.trim());
  return text.trim() !== "" && Number.isFinite(n) ? n : undefined;
}
