import type { RuntimeError } from "../errors/runtime-error.js";
import type { HolderClient } from "./holder-client.js";
import type { HolderExit } from "./holder-protocol.js";

/**
 * What the core and the kinds ask of a pod's supervisor connection: the host
 * holder's control socket, or a VM's guest agent over virtio-serial (both are a
 * {@link HolderClient}). A type of its own so the core can be driven by a fake
 * supervisor in unit tests.
 */
export interface PodAgent
  extends Pick<HolderClient, "spawn" | "write" | "onOutput" | "onEof" | "closeStdin" | "resize" | "adopt" | "member" | "mkfifo" | "mount" | "umount" | "access" | "setHostname" | "linkUp" | "addAddress" | "addRoute" | "sysctl" | "startExecFifo" | "kill" | "exits" | "ping" | "shutdown" | "close"> {
  /** A process of the pod was reaped (already journaled by then). */
  on(event: "exit", listener: (e: HolderExit) => void): unknown;
  /** The connection is gone (with the reason unless it was closed on purpose). */
  on(event: "close", listener: (err: RuntimeError | undefined) => void): unknown;
}
