/** Annotations containerd 1.7's CRI puts on the specs it hands a shim (protocols.md §3.6). */
export const CRI_CONTAINER_TYPE = "io.kubernetes.cri.container-type";
export const CRI_SANDBOX_ID = "io.kubernetes.cri.sandbox-id";
export const CRI_SANDBOX_NAME = "io.kubernetes.cri.sandbox-name";
export const CRI_SANDBOX_NAMESPACE = "io.kubernetes.cri.sandbox-namespace";
export const CRI_SANDBOX_UID = "io.kubernetes.cri.sandbox-uid";
export const CRI_SANDBOX_LOG_DIRECTORY = "io.kubernetes.cri.sandbox-log-directory";
/** Our own: which sandboxer runs a pod (`runc`, later `wasm`...). Pod annotation, passed by CRI's `pod_annotations`. */
export const KUASAR_SANDBOXER = "io.kuasar.sandboxer";
