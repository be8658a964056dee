/**
 * The `vmm` key of the benchmark JSON: VM pods of the vmm sandboxer, measured apart from the
 * other configurations because an (often emulated) micro-VM per pod is far too heavy for
 * 20-pod rounds and 50-pod memory points. Optional in {@link BenchResults}: older files lack it.
 * Units as in `results.ts` (`_ms`, `_kb`, `_mb` = MiB).
 *
 * @internal benchmark, not part of the runtime
 */

/** `ok`: measured; `not_available`: prerequisites missing (see `reason`); `failed`: it ran and broke. */
export type VmmStatus = "ok" | "not_available" | "failed";

/** One bare boot of the guest kernel + initrd to the agent's first answer (no containerd, no kuasard). */
export interface VmmFloorSample {
  readonly ok: boolean;
  /** From starting virtiofsd + QEMU to the agent's answered ping, ms (null when the boot failed). */
  readonly boot_ms: number | null;
  readonly error: string | null;
}

/** Memory with `pods` VM pods running. Management and per-pod infrastructure are kept apart. */
export interface VmmMemoryPoint {
  readonly pods: number;
  /** Summed PSS of kuasard and kuasar-endpoint (median over the snapshots), MiB. */
  readonly mgmt_pss_mb: number;
  /** Median over the QEMU processes of one QEMU's PSS, MiB (0 with no pod). */
  readonly qemu_pss_mb: number;
  /** Median over the QEMU processes of one QEMU's RSS, MiB. */
  readonly qemu_rss_mb: number;
  /** Summed PSS of every virtiofsd process divided by the pods (median over the snapshots), MiB. */
  readonly virtiofsd_pss_mb: number;
  readonly qemu_processes: number;
  readonly virtiofsd_processes: number;
}

/** The numbers the report shows. */
export interface VmmSummary {
  readonly floor_ms_min: number | null;
  readonly floor_ms_median: number | null;
  readonly floor_ms_p90: number | null;
  readonly pod_start_ms_min: number | null;
  readonly pod_start_ms_median: number | null;
  readonly pod_start_ms_p90: number | null;
  /** median(pod start) / median(floor): what containerd, kuasard and the container add to a bare boot. */
  readonly pod_start_over_floor: number | null;
  /** Least-squares slope of `mgmt_pss_mb` over the pod counts (including 0), MiB per pod. */
  readonly mgmt_pss_mb_per_pod: number | null;
  /** QEMU's PSS per pod at the largest pod count, MiB. */
  readonly qemu_pss_mb_per_pod: number | null;
  /** virtiofsd's PSS per pod at the largest pod count, MiB. */
  readonly virtiofsd_pss_mb_per_pod: number | null;
}

/** Numbers of the template path (pods restored from a VM template built ahead of time). */
export interface VmmTemplateSummary {
  readonly pod_start_ms_min: number | null;
  readonly pod_start_ms_median: number | null;
  readonly pod_start_ms_p90: number | null;
  /** median(template pod start) / median(floor): the target is <= 0.3. */
  readonly pod_start_over_floor: number | null;
  /** median(template pod start) / median(boot-path pod start) of the same run. */
  readonly pod_start_over_boot_path: number | null;
  /** QEMU's PSS per pod at the largest pod count, MiB (the target is <= 128 for a 256 MiB guest). */
  readonly qemu_pss_mb_per_pod: number | null;
  /** virtiofsd's PSS per pod at the largest pod count, MiB (0 with a share served by QEMU itself). */
  readonly virtiofsd_pss_mb_per_pod: number | null;
}

/**
 * The template path of the VM section: a second containerd 2.x + kuasard with
 * `[sandboxers.vmm.hypervisor] template = true`, its template built before the timed
 * iterations (what `kuasar-ctl template build` does), its pod starts interleaved with the
 * floor and the boot path's, and its memory measured with the boot path's pods gone.
 */
export interface VmmTemplatePath {
  /** Template key (`<accelerator>-<digest>`), null when the build failed. */
  readonly key: string | null;
  /** Building the template (boot to the agent, pause, save), ms; reported apart, never in a pod start. */
  readonly build_ms: number | null;
  /** Template RAM file: bytes of data (it is sparse) and apparent size, MiB. */
  readonly memory_file_data_mb: number | null;
  /** Pods the daemon restored (its log) and pods it started, warm-up and memory pods included: a booted pod fails the path. */
  readonly restored_pods: number;
  readonly started_pods: number;
  readonly summary: VmmTemplateSummary | null;
  /** Medians of its CRI calls over the timed pod starts; absent in files older than it. */
  readonly cri_phases_ms?: VmmCriPhases | null;
  /**
   * Medians over its restored pods of the daemon's restore steps (each ms since QEMU's spawn
   * began: `spawn_ms`, `qmp_ms`, `state_loaded_ms`, `plugged_ms`, `agent_ms`, `mounted_ms`, and
   * the whole `restore_ms`, from its log), and of the guest setup after it (`setup_ms`, its own
   * duration; absent before it was logged); absent in files older than it, null when none logged.
   */
  readonly restore_steps_ms?: Readonly<Record<string, number>> | null;
  readonly samples: {
    readonly pod_start_ms: readonly (number | null)[];
    readonly pod_start_errors: readonly string[];
    readonly memory: readonly VmmMemoryPoint[];
  };
}

/** Medians of a path's CRI calls over its timed pod starts, ms (what the client saw of each). */
export interface VmmCriPhases {
  readonly run_pod_sandbox_ms: number | null;
  readonly create_container_ms: number | null;
  readonly start_container_ms: number | null;
  readonly until_running_ms: number | null;
}

/** The whole VM section. */
export interface VmmSection {
  readonly status: VmmStatus;
  /** Why not available or failed; null when ok. */
  readonly reason: string | null;
  /** `kvm` or `tcg` (software emulation), as the sandboxer would choose; null when not reached. */
  readonly accelerator: string | null;
  /** Why that accelerator (e.g. "/dev/kvm unusable (ENOENT)"). */
  readonly accelerator_reason: string | null;
  /** vCPUs and memory of each VM (the hypervisor defaults). */
  readonly vcpus: number;
  readonly memory_mb: number;
  /** Serial iterations of each of floor and pod start (interleaved). */
  readonly iterations: number;
  /** Why removing the VM pods after the memory phase failed (the numbers still stand), or null. */
  readonly teardown_error: string | null;
  /** The boot path (every pod boots its guest): `summary` and `samples` below. */
  readonly summary: VmmSummary | null;
  /** The boot path's CRI calls (medians over its timed pod starts); absent in files older than it. */
  readonly cri_phases_ms?: VmmCriPhases | null;
  /** The template path measured in the same run; absent in files older than it, null when not run. */
  readonly template?: VmmTemplatePath | null;
  readonly samples: {
    readonly floor: readonly VmmFloorSample[];
    /** `total_ms` of each pod start (RunPodSandbox + CreateContainer + StartContainer + RUNNING), null when it failed. */
    readonly pod_start_ms: readonly (number | null)[];
    readonly pod_start_errors: readonly string[];
    readonly memory: readonly VmmMemoryPoint[];
  };
}
