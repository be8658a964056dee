/* The endpoint's control API (kuasar.endpoint.v1.Endpoint over ttrpc): kuasard asks it
 * to serve a route on a socket, and reads its status. Served by the relay on a socket
 * only root can open; its connections are not kept in custody (kuasard re-dials). */
#ifndef KUASAR_ENDPOINT_CONTROL_H
#define KUASAR_ENDPOINT_CONTROL_H

#include <stdint.h>

struct control;

struct control *control_new(int fd);
/* Handles an epoll event; -1 when the connection was closed and freed. */
int control_event(struct control *ctl, uint32_t events);
/* Reads and answers what is queued. */
int control_input(struct control *ctl);

#endif
