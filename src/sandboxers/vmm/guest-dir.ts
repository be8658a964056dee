import { fileURLToPath } from "node:url";

/** Where packaging/build-guest.sh puts the guest kernel and initrd of this installation. */
export const defaultGuestDir: string = fileURLToPath(new URL("../../../../build/guest", import.meta.url));

/** Where packaging/build-guest.sh puts the guest VM templates boot (a kernel with 9p, see docs/adr/0009-vm-templates.md). */
export const defaultTemplateGuestDir: string = fileURLToPath(new URL("../../../../build/guest-template", import.meta.url));
