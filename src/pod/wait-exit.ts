import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import type { HolderExit } from "../holder/holder-protocol.js";
import type { Pod } from "./pod.js";

/** Waits for the holder to report the exit of `pid` (started at `since`), bounded by `timeoutMs`. */
export function waitExit(pod: Pod, pid: number, since: Date, timeoutMs: number): Promise<HolderExit> {
  const known = pod.exitOf(pid, since);
  if (known) return Promise.resolve(known);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new RuntimeError(Code.DeadlineExceeded, `process ${pid} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = pod.onExit((e) => {
      if (e.pid !== pid || e.exitedAt.getTime() < since.getTime() - pod.clockSkewMs) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}
