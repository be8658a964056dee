/* The requests of the control protocol (protocol.h): parsing and dispatch to each verb. */
#ifndef KUASAR_HOLDER_REQUESTS_H
#define KUASAR_HOLDER_REQUESTS_H

#include <stddef.h>

struct holder;
struct client;

/* Answers one request payload (len bytes of NUL-terminated strings) from c. */
void handle_request(struct holder *h, struct client *c, char *msg, size_t len);

#endif
