import type { OptionTable } from "../config/option-table.js";
import type { Logger } from "../log/logger.js";
import type { Sandboxer } from "../sandbox/sandboxer.js";
import type { OutputKeeper } from "../task/output-keeper.js";
import type { EventPublisher } from "../task/task-event.js";

/** Where a sandboxer lives and is reached, decided by the daemon. */
export interface SandboxerBase {
  /** State directory (`dir`). */
  readonly dir: string;
  /** Task API address returned by Start (`ttrpc+unix://...`), served by kuasar-endpoint. */
  readonly taskAddress: string;
  /** The pod holder executable. */
  readonly holderBinary: string;
}

/** What the daemon lends every sandboxer it makes. */
export interface SandboxerServices {
  readonly log: Logger;
  readonly events: EventPublisher;
  /** The lowest oom_score_adj the daemon may give a child (its own, without CAP_SYS_RESOURCE). */
  readonly minOomScoreAdj: number;
  /** Keeps container outputs open across daemon restarts (the endpoint's custody). */
  readonly outputKeeper: OutputKeeper;
}

/**
 * A sandboxer kind: its name, the keys of its own `[sandboxers.<name>]` table beyond the
 * ones every kind takes, and how it is made from them. Each kind defines itself in its own
 * folder; the daemon only lists them (src/daemon/sandboxer-kinds.ts).
 */
export interface SandboxerKindDefinition<O> {
  readonly name: string;
  /** The kind's own keys (their defaults and docs live here, nowhere else). */
  readonly options: OptionTable<O>;
  /**
   * A top-level table a Kuasar-style single-kind config file uses for one of this kind's
   * nested tables (`[hypervisor]` of Kuasar's vmm-sandboxer for `[sandboxers.vmm.hypervisor]`).
   */
  readonly kuasarTopLevelTables?: readonly string[];
  /**
   * Makes the sandboxer (a kind may probe the host first, e.g. which OCI runtime works). It imports
   * its implementation here, not at the top of the kind's module: the kinds' option tables are
   * always loaded (config checks), their code only when configured.
   */
  create(base: SandboxerBase, options: O, services: SandboxerServices): Sandboxer | Promise<Sandboxer>;
  /** The programs and files this kind runs with these options (`kuasar-ctl check` looks for them), by role. */
  programs(options: O): Record<string, string>;
}

/** A kind as the daemon lists it: its options are read by its own table and handed back to it. */
export type AnySandboxerKind = SandboxerKindDefinition<unknown>;
