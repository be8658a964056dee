import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { endInput } from "../../process/child-input.js";

const run = promisify(execFile);

/** The pod's network as CNI left it in the network namespace, to be carried into the guest. */
export interface PodNetwork {
  /** The CNI interface in the netns (e.g. eth0), whose traffic is redirected to the tap. */
  interface: string;
  /** Its MAC, given to the guest NIC so peers need not relearn anything. */
  mac: string;
  mtu: number;
  /** `address/prefix` entries (IPv4 and IPv6, global scope). */
  addresses: string[];
  /** Routes through it other than the kernel's own, link routes first (so gateways are reachable when defaults are added). */
  routes: PodRoute[];
  /** The tap device QEMU attaches to. */
  tap: string;
}

/** One route of the pod's network (not persisted: it lives from the wiring to the guest setup of one Start). */
export interface PodRoute {
  family: 4 | 6;
  /** `default`, or `address[/prefix]` as ip(8) lists it (no prefix: one host). */
  dst: string;
  /** The next hop, if any. */
  gateway?: string | undefined;
  /** ip(8)'s scope name when not `universe` (e.g. `link`); absent: ip(8)'s default. */
  scope?: string | undefined;
}

/** Name of the tap device in every pod netns (one VM per netns). */
export const TAP_NAME = "tap0_kuasar";

async function inNetns(netns: string, argv: string[], input?: string): Promise<string> {
  try {
    const pending = run("nsenter", [`--net=${netns}`, "--", ...argv], { timeout: 10_000 });
    endInput(pending.child.stdin, input ?? "");
    return (await pending).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new RuntimeError(Code.Internal, `${argv.join(" ")}${input ? ` <<< ${JSON.stringify(input)}` : ""} in ${netns}: ${(e.stderr || e.message).trim()}`, { cause: err });
  }
}

interface IpLink {
  ifname: string;
  address?: string;
  mtu?: number;
  link_type?: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  flags?: string[];
}

/**
 * Reads the CNI interface of `netns` and wires a tap device to it with tc
 * mirred redirects both ways: frames for the pod's MAC go to the guest and the
 * guest's frames leave through the CNI interface. Undone by {@link unwirePodNetwork}.
 */
export async function wirePodNetwork(netns: string): Promise<PodNetwork | undefined> {
  // One process per query, all at once, and one per tool for the wiring: each is a spawn and a
  // namespace switch on the pod start's path.
  const [linksJson, routes4, routes6] = await Promise.all([
    inNetns(netns, ["ip", "-j", "addr", "show"]),
    inNetns(netns, ["ip", "-j", "-4", "route", "show"]),
    inNetns(netns, ["ip", "-j", "-6", "route", "show"]),
  ]);
  const links = JSON.parse(linksJson) as IpLink[];
  const link = links.find((l) => l.link_type === "ether" && l.ifname !== TAP_NAME && (l.addr_info ?? []).some((a) => a.scope === "global"));
  if (!link) return undefined; // nothing configured (e.g. a netns without CNI): the guest gets loopback only
  const dev = link.ifname;
  const addresses = (link.addr_info ?? []).filter((a) => a.scope === "global").map((a) => `${a.local}/${a.prefixlen}`);
  const routes: PodRoute[] = [];
  for (const [family, json] of [[4, routes4], [6, routes6]] as const) {
    const list = (JSON.parse(json || "[]") as IpRoute[]).filter((r) => r.dev === dev);
    // Link routes come first so gateways are reachable when defaults are added.
    const sorted = [...list.filter((r) => !r.gateway), ...list.filter((r) => r.gateway)];
    for (const r of sorted) {
      if (r.protocol === "kernel") continue; // the guest derives these from its addresses
      routes.push({ family, dst: r.dst, gateway: r.gateway, scope: r.scope && r.scope !== "universe" ? r.scope : undefined });
    }
  }
  const redirect = (from: string, to: string) => `filter add dev ${from} parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev ${to}`;
  try {
    await inNetns(netns, ["ip", "-batch", "-"], [`tuntap add dev ${TAP_NAME} mode tap`, `link set ${TAP_NAME} mtu ${link.mtu ?? 1500} up`, ""].join("\n"));
    await inNetns(netns, ["tc", "-batch", "-"], [`qdisc add dev ${dev} ingress`, redirect(dev, TAP_NAME), `qdisc add dev ${TAP_NAME} ingress`, redirect(TAP_NAME, dev), ""].join("\n"));
  } catch (err) {
    await unwirePodNetwork(netns, dev);
    throw err;
  }
  return { interface: dev, mac: link.address ?? "", mtu: link.mtu ?? 1500, addresses, routes, tap: TAP_NAME };
}

/** Removes the tap and the redirect (best effort: the netns may already be gone). */
export async function unwirePodNetwork(netns: string, dev: string): Promise<void> {
  await inNetns(netns, ["tc", "qdisc", "del", "dev", dev, "ingress"]).catch(() => {});
  await inNetns(netns, ["ip", "link", "del", TAP_NAME]).catch(() => {});
}

/** The pod's NIC inside its guest (the one virtio-net device QEMU gives it). */
export const GUEST_NIC = "eth0";

/**
 * Shell commands that give the guest the pod's network (run by the agent as pid-1's child): the
 * guest setup of an agent older than its `linkup`/`addradd`/`routeadd` verbs (see guest-setup.ts).
 */
export function guestNetworkScript(n: PodNetwork): string {
  const lines = ["set -e", `ip link set ${GUEST_NIC} mtu ${n.mtu} up`];
  for (const a of n.addresses) lines.push(`ip addr add ${a} dev ${GUEST_NIC}`);
  for (const r of n.routes) {
    const args = [r.dst, ...(r.gateway ? ["via", r.gateway] : []), ...(r.scope ? ["scope", r.scope] : [])];
    lines.push(`ip -${r.family} route add ${args.join(" ")} dev ${GUEST_NIC}`);
  }
  return lines.join("\n");
}
