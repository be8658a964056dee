/*
 * Serve mode (`--serve-port`): the holder as a guest VM's agent. Its one client is
 * the host on a byte-stream port (a virtio-serial port) that can disconnect and come
 * back; as the guest's pid 1 it powers the VM off instead of exiting.
 */
#ifndef KUASAR_HOLDER_SERVE_H
#define KUASAR_HOLDER_SERVE_H

struct holder;
struct client;

/* Opens the port (a path, or an inherited fd "fd:N" when inherited >= 0) as the one client. */
void port_open(struct holder *h, const char *spec, int inherited);
/* The host went away: drops the connection's partial request and unsent messages. */
void port_detach(struct client *c);
/* Reattaches the port once the host is back (POLLHUP cleared). */
void port_recheck(struct holder *h);
/* pid 1 of a guest VM may not exit (the kernel would panic): it syncs and powers the VM off. */
void power_off(void) __attribute__((noreturn));

#endif
