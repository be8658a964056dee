import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";

/** The file runsc saves a sandbox's kernel state to, in a checkpoint's image dir. */
export const CHECKPOINT_STATE_FILE = "checkpoint.img";
/** What kuasard adds beside runsc's files: which kind saved the image (containerd tars the whole dir). */
export const CHECKPOINT_LABEL_FILE = "kuasar-checkpoint.json";

/** What {@link CHECKPOINT_LABEL_FILE} says. */
export interface CheckpointLabel {
  kind: "gvisor";
  /** The runsc network the saved sandbox ran with (a restore needs a netstack too). */
  network: string;
}

/** Labels a checkpoint image dir as gVisor's (after runsc wrote it; containerd tars it once Checkpoint returns). */
export function writeCheckpointLabel(dir: string, label: CheckpointLabel): void {
  writeFileSync(join(dir, CHECKPOINT_LABEL_FILE), JSON.stringify(label), { mode: 0o600 });
}

/**
 * Refuses a checkpoint dir with no gVisor image in it (InvalidArgument): one made
 * by another runtime (runc's CRIU images) or not unpacked by containerd.
 */
export function checkCheckpointImage(dir: string): void {
  if (!existsSync(join(dir, CHECKPOINT_STATE_FILE))) {
    throw new RuntimeError(Code.InvalidArgument, `checkpoint ${JSON.stringify(dir)} holds no gVisor image (${CHECKPOINT_STATE_FILE}): only checkpoints of gvisor containers can be restored on the gvisor sandboxer`);
  }
}
