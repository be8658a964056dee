import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/** Parses `host:port` or `[v6]:port` (port 0..65535); InvalidArgument otherwise. */
export function parseListenAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new RuntimeError(Code.InvalidArgument, `want host:port (e.g. 127.0.0.1:9325), got ${JSON.stringify(address)}`);
  return { host: (m[1] ?? m[2])!, port };
}
