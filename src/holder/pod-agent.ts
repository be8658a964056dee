import type { HolderClient } from "./holder-client.js";

/**
 * What the core and the kinds ask of a pod's supervisor connection: the host
 * holder's control socket, or a VM's guest agent over virtio-serial (both are a
 * {@link HolderClient}). A type of its own so the core can be driven by a fake
 * supervisor in unit tests.
 */
export type PodAgent = Pick<
  HolderClient,
  "on" | "spawn" | "write" | "onOutput" | "onEof" | "closeStdin" | "resize" | "adopt" | "kill" | "exits" | "ping" | "shutdown" | "close"
>;
