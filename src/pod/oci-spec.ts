/** The parts of an OCI runtime spec (config.json) the runc sandboxer reads or changes. */
export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface OciNamespace {
  type: string;
  path?: string;
}

export interface OciProcess {
  terminal?: boolean;
  args?: string[];
  env?: string[];
  cwd?: string;
  oomScoreAdj?: number;
  [key: string]: unknown;
}

export interface OciSpec {
  ociVersion?: string;
  process?: OciProcess;
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  mounts?: OciMount[];
  annotations?: Record<string, string>;
  /** Lifecycle hooks (only whether there are any matters here). */
  hooks?: { poststart?: unknown[]; [key: string]: unknown };
  linux?: {
    namespaces?: OciNamespace[];
    cgroupsPath?: string;
    resources?: unknown;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}
