/** How a gVisor sandbox reaches the network (runsc `--network`); apart from runsc-cli so the option table loads without it. */
export const runscNetworkModes = ["sandbox", "host", "none"] as const;
export type RunscNetwork = (typeof runscNetworkModes)[number];
