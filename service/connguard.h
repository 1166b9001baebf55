/* connguard: per-client-address connection cap enforced in civetweb's accept(), before a connection owns a thread. */
#ifndef HELLOD_CONNGUARD_H
#define HELLOD_CONNGUARD_H

#include <stdint.h>
#include <sys/socket.h>

/* Set the cap (connections open at once from one IPv4 address or one IPv6
 * /64; 0 = no cap) and allocate the table for at most max_open tracked
 * connections (beyond that, connections pass uncounted: the cap fails
 * open rather than refusing everyone). Call once, before any listener is
 * guarded. Returns 0, or -1 on OOM. */
int connguard_init(int per_addr_cap, int max_open);

/* Guard every listening socket open right now (call after the main
 * civetweb context started and before the health one starts, so the
 * health listener is never capped): their accepted connections are counted
 * and capped. Also sets TCP_DEFER_ACCEPT (defer_s seconds) so the kernel
 * hands over a connection only once the client has sent data (a TLS
 * ClientHello, a request line); idle connects never reach civetweb.
 * Returns the number of listeners guarded, or -1 (errno set). */
int connguard_guard_listeners(int defer_s);

/* Is fd one of the guarded (main) listening sockets? */
int connguard_is_listener(int fd);

/* Guarded connections accepted and not yet closed (in civetweb's queue or
 * held by a worker). */
long connguard_open(void);

/* Connections closed at accept because their address was at the cap. */
uint64_t connguard_refused(void);

/* Free the table (after civetweb stopped). */
void connguard_free(void);

/* civetweb's accept() and close() (its object is compiled with
 * -Daccept=hellod_accept -Dclose=hellod_close). hellod_accept returns -1
 * with errno EAGAIN for a connection it refused (civetweb then just polls
 * again); hellod_close forgets a tracked socket before closing it, so its
 * descriptor number cannot be reused while still counted. */
int hellod_accept(int fd, struct sockaddr *sa, socklen_t *len);
int hellod_close(int fd);

#endif
