import { fileURLToPath } from "node:url";

/** Where packaging/build-guest.sh puts the guest kernel and initrd of this installation. */
export const defaultGuestDir: string = fileURLToPath(new URL("../../../../build/guest", import.meta.url));
