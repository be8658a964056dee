/* What kuasar-wasm-host's parts share: serving a pod (host.c) and the node's template
 * whose forks become pods' hosts (zygote.c). */
#ifndef KUASAR_WASM_HOST_H
#define KUASAR_WASM_HOST_H

/* Becomes the pod's host in the current directory (the pod's wasm dir), already in the pod's
 * namespaces and cgroups: listens (unless a host answers there already), reports on `report`
 * ("R <pid>\n", "R 0\n" when another host answers, or "E <errno> <reason>\n"), then serves
 * until idle or until the holder (`hfd`, its pidfd) exits. */
void host_serve_pod(int hfd, int report) __attribute__((noreturn));

/* Serves the node's requests for pods' hosts on `fd` until it closes (zygote.c); `parent`
 * (--parent=PID) is the daemon it leaves with. */
void zygote_serve(int fd, const char *parent) __attribute__((noreturn));

#endif
