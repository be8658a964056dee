import { Controller as KuasarIoController } from "../gen/kuasar_io/containerd/services/sandbox/v1/sandbox_pb.js";
import type { GrpcServer } from "../grpc/server.js";
import { KUASAR_IO_CONTROLLER_SERVICE, kuasarIoControllerServiceImpl } from "../sandbox/kuasar-io-controller-service.js";
import { PreparedBundles } from "../sandbox/prepared-bundles.js";
import type { Sandboxer } from "../sandbox/sandboxer.js";
import { preparedBundlesDir, type SandboxerOptions } from "./kuasard-options.js";

/**
 * Serves the kuasar-io fork's Sandbox API for `sandboxer` on `server`. Its own module, loaded
 * only for a socket configured to speak it, so a daemon serving upstream containerd alone
 * carries none of the fork's generated messages.
 */
export function registerKuasarIo(server: GrpcServer, sandboxer: Sandboxer, so: SandboxerOptions, defaultNamespace: string): void {
  server.register(KuasarIoController, kuasarIoControllerServiceImpl(sandboxer, new PreparedBundles(preparedBundlesDir(so)), defaultNamespace), KUASAR_IO_CONTROLLER_SERVICE);
}
