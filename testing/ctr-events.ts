import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type { Containerd } from "./containerd.js";
import type { Teardowns } from "./teardown-scope.js";

/** What `ctr events` printed so far, and a way to wait for a line. */
export interface CtrEvents {
  /** Every line printed so far. */
  readonly lines: string[];
  /** Resolves with the first line matching `re`; rejects after `ms` naming what was seen. */
  waitFor(re: RegExp, ms: number): Promise<string>;
  /** Stops `ctr events` (also done by the owner's teardown). */
  stop(): Promise<void>;
}

/**
 * Starts `ctr events` on `containerd` and resolves once its subscription is live: it creates
 * a probe namespace until `ctr` prints that event (the subscription starts asynchronously, and
 * a fixed pause before the events a test looks for is a guess, too short on a loaded machine).
 */
export async function ctrEvents(owner: Teardowns, containerd: Containerd): Promise<CtrEvents> {
  const ctr = spawn(containerd.binaries.ctr, ["--address", containerd.address, "events"], { stdio: ["ignore", "pipe", "ignore"] });
  const exited = once(ctr, "close").then(() => undefined);
  const stop = async (): Promise<void> => {
    if (ctr.exitCode === null && ctr.signalCode === null) ctr.kill("SIGKILL");
    await exited;
  };
  owner.after(stop);
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let rest = "";
  ctr.stdout.setEncoding("utf8").on("data", (s: string) => {
    rest += s;
    const parts = rest.split("\n");
    rest = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters) w();
  });
  const waitFor = (re: RegExp, ms: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = lines.find((l) => re.test(l));
        if (hit === undefined) return;
        done();
        resolve(hit);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no event matching ${re} in ${ms} ms; saw:\n${lines.join("\n")}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const probes: string[] = [];
  try {
    for (let i = 0; ; i++) {
      const probe = `events-probe-${randomBytes(4).toString("hex")}`;
      await containerd.ctr(["namespaces", "create", probe]);
      probes.push(probe);
      const seen = await waitFor(new RegExp(`/namespaces/create.*${probe}`), 1000).then(
        () => true,
        () => false,
      );
      if (seen) break;
      if (i >= 30) throw new Error(`ctr events printed none of ${probes.length} probe namespaces' creation`);
    }
  } finally {
    for (const p of probes) await containerd.ctr(["namespaces", "remove", p], { allowFailure: true });
  }
  return { lines, waitFor, stop };
}
