import { GUEST_CRUN, GUEST_RUNC } from "./guest-paths.js";

/**
 * The OCI runtime that runs a VM pod's containers inside its guest. crun when the guest has it:
 * under TCG a Go binary's start is most of a container's launch (measured in a restored guest,
 * load 30 on two cores: `create` 2.7-6.1 s with runc, 0.5-1.4 s with crun); runc otherwise (a
 * guest built without crun, and pods started before crun was in the guest: a record without
 * one). Chosen once per pod, at its guest setup, and kept in its record.
 */
export type GuestOciRuntime = "runc" | "crun";

/** The runtime's binary in the guest. */
export function guestRuntimeBinary(rt: GuestOciRuntime | undefined): string {
  return rt === "crun" ? GUEST_CRUN : GUEST_RUNC;
}

/** Shell line of the guest setup script that prints which runtime the guest has (see {@link parseGuestRuntime}). */
export const GUEST_RUNTIME_PROBE = `if [ -x ${GUEST_CRUN} ]; then echo oci_runtime=crun; else echo oci_runtime=runc; fi`;

/** The runtime the probe's output names; runc when it names none. */
export function parseGuestRuntime(output: string): GuestOciRuntime {
  return /^oci_runtime=crun$/m.test(output) ? "crun" : "runc";
}
