/* The endpoint's listening sockets: stale ones left by a dead process are replaced, live
 * ones and other files are never touched. */
#ifndef KUASAR_ENDPOINT_LISTEN_H
#define KUASAR_ENDPOINT_LISTEN_H

/* Creates a listening unix socket (mode 0600); the fd, or a negative status code with *err set. */
int listen_unix(const char *path, const char **err);

#endif
