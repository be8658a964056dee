/* rtnetlink for the guest setup: one request to the kernel, then its acknowledgement. */
#ifndef KUASAR_HOLDER_NETLINK_H
#define KUASAR_HOLDER_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One request being built: a header, a fixed body, attributes (what the setup sends fits easily). */
struct nl_msg {
	_Alignas(4) char buf[512];
};

/* Starts a request of `type` (RTM_*) with the body `body` (len bytes); NLM_F_REQUEST|NLM_F_ACK|flags. */
void nl_init(struct nl_msg *m, uint16_t type, uint16_t flags, const void *body, size_t len);
/* Appends attribute `type` with len bytes of data; false when it does not fit. */
bool nl_attr(struct nl_msg *m, uint16_t type, const void *data, size_t len);
/*
 * Sends m on a fresh NETLINK_ROUTE socket and waits (at most 2 s) for its acknowledgement:
 * 0, or the errno the kernel answered, with the kernel's own explanation (extended ack), if
 * any, in why (else why is "").
 */
int nl_call(struct nl_msg *m, char *why, size_t whylen);

#endif
