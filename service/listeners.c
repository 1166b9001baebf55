/* listeners: closes civetweb's listening sockets in place (dup2 over them) to start a graceful drain. */
#include "service/listeners.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int pipe_fds[2] = {-1, -1};

static int is_listening_socket(int fd)
{
    int on = 0;
    socklen_t len = sizeof(on);

    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) != 0)
        return 0; /* not a socket (ENOTSOCK) or gone */
    return on != 0;
}

int listeners_close_all(int (*pick)(int fd))
{
    DIR *d = NULL;
    struct dirent *e;
    int n = 0, rc = -1;

    if (pipe_fds[0] < 0 && pipe2(pipe_fds, O_CLOEXEC) != 0)
        return -1;
    d = opendir("/proc/self/fd");
    if (!d)
        goto out;
    while ((e = readdir(d))) {
        char *end;
        long fd;

        errno = 0;
        fd = strtol(e->d_name, &end, 10);
        if (errno != 0 || *end != '\0' || end == e->d_name || fd < 0 || fd == dirfd(d) ||
            fd == pipe_fds[0] || fd == pipe_fds[1])
            continue;
        if (!is_listening_socket((int)fd) || (pick && !pick((int)fd)))
            continue;
        /* shutdown() stops the listener at once (Linux resets its backlog
         * and refuses new connections) even while civetweb's poll() still
         * holds a reference to the socket; dup2 then retires the fd. */
        (void)shutdown((int)fd, SHUT_RDWR);
        if (dup2(pipe_fds[0], (int)fd) < 0)
            goto out;
        n++;
    }
    rc = n;
out:
    if (d)
        closedir(d);
    return rc;
}

void listeners_release(void)
{
    if (pipe_fds[0] >= 0)
        close(pipe_fds[0]);
    if (pipe_fds[1] >= 0)
        close(pipe_fds[1]);
    pipe_fds[0] = pipe_fds[1] = -1;
}
