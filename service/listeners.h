/* listeners: stop accepting connections while civetweb keeps serving the ones it has. */
#ifndef HELLOD_LISTENERS_H
#define HELLOD_LISTENERS_H

/* Close every listening socket of the process for which pick(fd) returns
 * nonzero (hellod has none but civetweb's; pick NULL: all of them) without
 * disturbing civetweb: each one is shut down and then
 * replaced, with
 * dup2(2), by the read end of a pipe whose write end stays open, so
 * civetweb's accept loop keeps polling a descriptor that never becomes
 * readable until mg_stop closes it. The kernel closes the listening socket:
 * new connections are refused, and connections that sat in the backlog
 * unaccepted are reset. Already accepted connections are not touched.
 * Returns the number of sockets closed, or -1 on error (errno set).
 * Call at most once. */
int listeners_close_all(int (*pick)(int fd));

/* Release the pipe kept by listeners_close_all (after mg_stop). */
void listeners_release(void);

#endif
