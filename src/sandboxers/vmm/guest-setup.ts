import { setTimeout as sleep } from "node:timers/promises";
import { Code } from "../../errors/code.js";
import { isErrorCode, RuntimeError } from "../../errors/runtime-error.js";
import { holderErrno, type HolderCallOptions } from "../../holder/holder-client.js";
import type { PodAgent } from "../../holder/pod-agent.js";
import { GUEST_CRUN } from "./guest-paths.js";
import { GUEST_RUNTIME_PROBE, parseGuestRuntime, type GuestOciRuntime } from "./guest-oci-runtime.js";
import { GUEST_NIC, guestNetworkScript, type PodNetwork } from "./pod-network.js";

/** What a VM pod's guest is given at its setup, before any container. */
export interface GuestSetup {
  hostname: string;
  /** The pod's network as CNI left it (absent: a pod without one; the guest keeps loopback only). */
  network?: PodNetwork | undefined;
  /** The NIC was hot-plugged (a VM restored from a template): the guest may still be bringing it in. */
  nicHotplugged: boolean;
  /** Pod sysctls, by key (dots or slashes as separators). */
  sysctls: Record<string, string>;
}

/** The agent verbs the setup uses (a guest's pid 1 serves them). */
export type GuestSetupAgent = Pick<PodAgent, "access" | "setHostname" | "linkUp" | "addAddress" | "addRoute" | "sysctl">;

/** Options of {@link setUpGuest}. */
export interface GuestSetupOptions {
  /** When the whole setup must be done, in ms since the epoch. */
  deadline: number;
  /** How long a hot-plugged NIC may take to appear in the guest, in ms. */
  nicWaitMs: number;
  signal?: AbortSignal | undefined;
  /** Told how long the guest's NIC took to appear (ms, 0 when it was there) once it is up: where a restored pod's setup waits. */
  onNicUp?: (waitedMs: number) => void;
}

/** How often a guest is asked again for its hot-plugged NIC, in ms (one request over the port each). */
const NIC_POLL_MS = 10;

/**
 * Sets a VM pod's guest up by the agent's own system calls, in the order the script did it: the
 * OCI runtime probe, the hostname, the NIC up with the pod's MTU, its addresses, its routes (link
 * routes before gateway routes, as listed), the sysctls. Under TCG each program a restored guest
 * runs is translated afresh; these are a request each. An agent older than the verbs (an old
 * guest, Unimplemented at the first) gets the script through `runScript` instead, whose output
 * names the runtime. Returns the guest's OCI runtime.
 */
export async function setUpGuest(agent: GuestSetupAgent, setup: GuestSetup, runScript: (script: string) => Promise<string>, opts: GuestSetupOptions): Promise<GuestOciRuntime> {
  const call = (): HolderCallOptions => ({ signal: opts.signal, timeoutMs: Math.max(1000, opts.deadline - Date.now()) });
  // Requests go out without waiting for the one before: the agent takes them in order, one at a
  // time, and a pipeline spares a guest under TCG a host round trip per step. A VM whose setup
  // failed is discarded, so what ran after a failed step does not matter; the first failure in
  // order is the one reported.
  const probe = probeRuntime(agent, call());
  const hostname = agent.setHostname(setup.hostname, call());
  hostname.catch(() => {}); // an agent older than the verbs refuses it too: the script does it
  let runtime: GuestOciRuntime;
  try {
    runtime = await probe;
  } catch (err) {
    if (!isErrorCode(err, Code.Unimplemented)) throw setupError("probing the guest's OCI runtime", err);
    return parseGuestRuntime(await runScript(guestSetupScript(setup)));
  }
  const steps: [string, Promise<void>][] = [["setting the hostname", hostname]];
  const net = setup.network;
  if (net) {
    // The NIC first, alone: the guest may not have it yet (asked again until it does).
    await inOrder(steps.splice(0));
    const asked = Date.now();
    const attempts = await linkUp(agent, net.mtu, setup.nicHotplugged ? Math.min(opts.nicWaitMs, opts.deadline - Date.now()) : 0, call, opts.signal);
    opts.onNicUp?.(attempts > 1 ? Date.now() - asked : 0);
    for (const a of net.addresses) steps.push([`adding address ${a}`, agent.addAddress(GUEST_NIC, a, call())]);
    for (const r of net.routes) steps.push([`adding route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ""}`, agent.addRoute(GUEST_NIC, r, call())]);
  }
  for (const [k, v] of Object.entries(setup.sysctls)) steps.push([`setting sysctl ${k}`, agent.sysctl(k, v, call())]);
  await inOrder(steps);
  return runtime;
}

/** Waits for every step; the first that failed, in order, is the error (naming its step). */
async function inOrder(steps: readonly [string, Promise<void>][]): Promise<void> {
  const results = await Promise.allSettled(steps.map(([, done]) => done));
  results.forEach((r, i) => {
    if (r.status === "rejected") throw setupError(steps[i]![0], r.reason);
  });
}

/** crun when the guest can execute it, runc when it has none (what `[ -x ]` told the script). */
async function probeRuntime(agent: GuestSetupAgent, call: HolderCallOptions): Promise<GuestOciRuntime> {
  try {
    await agent.access(GUEST_CRUN, call);
    return "crun";
  } catch (err) {
    const errno = holderErrno(err);
    if (errno === "ENOENT" || errno === "EACCES" || errno === "ENOTDIR") return "runc";
    throw err;
  }
}

/** The guest NIC up, asked again every {@link NIC_POLL_MS} while the guest has none and `waitMs` is not over; resolves to the requests it took. */
async function linkUp(agent: GuestSetupAgent, mtu: number, waitMs: number, call: () => HolderCallOptions, signal: AbortSignal | undefined): Promise<number> {
  const until = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await agent.linkUp(GUEST_NIC, mtu, call());
      return attempt;
    } catch (err) {
      if (holderErrno(err) !== "ENODEV" || Date.now() >= until) {
        const late = holderErrno(err) === "ENODEV" && waitMs > 0 ? ` (not there after ${waitMs} ms)` : "";
        throw setupError(`bringing ${GUEST_NIC} up${late}`, err);
      }
    }
    await sleep(NIC_POLL_MS, undefined, { signal }).catch((err: unknown) => {
      throw signal?.reason ?? err;
    });
  }
}

/** The agent's error with the step it failed at; its code kept. */
function setupError(what: string, err: unknown): RuntimeError {
  const e = RuntimeError.from(err);
  return new RuntimeError(e.code, `guest setup: ${what}: ${e.message}`, { cause: err });
}

/**
 * The same setup as one `/bin/sh -c` script (for an agent older than the verbs): the runtime
 * probe first (the rest's last status is the script's), the hostname, the wait for a hot-plugged
 * NIC, the network, the sysctls.
 */
export function guestSetupScript(setup: GuestSetup): string {
  const lines = [GUEST_RUNTIME_PROBE, `hostname ${shellQuote(setup.hostname)}`];
  if (setup.network && setup.nicHotplugged) lines.push(`i=0; while [ ! -e /sys/class/net/${GUEST_NIC} ] && [ $i -lt 400 ]; do usleep 25000; i=$((i+1)); done`);
  if (setup.network) lines.push(guestNetworkScript(setup.network));
  for (const [k, v] of Object.entries(setup.sysctls)) lines.push(`sysctl -w ${shellQuote(`${k}=${v}`)}`);
  return lines.join("\n");
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}
