/* The pod's host socket as its users reach it: relative to the pod's wasm dir (the caller's
 * working directory), and the lock under which exactly one host is brought up. */
#ifndef KUASAR_WASM_HOST_SOCKET_H
#define KUASAR_WASM_HOST_SOCKET_H

/* A connection to the host listening in the current directory, or -1 when none answers. */
int kw_try_connect(void);

/* Holds the start lock (blocking) and returns its fd (closing it releases the lock), or -1. */
int kw_start_lock(void);

#endif
