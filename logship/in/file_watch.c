/* file_watch: how the file source learns that something changed without polling: inotify on the
 * globs' literal directories and on every followed file's directory, and the one descriptor the
 * engine waits on (inotify plus a "more to read" eventfd under epoll). */
#include "logship/in/file_tail.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "log.h"

#define DIR_EVENTS (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE)
#define GLOB_DIR_EVENTS (DIR_EVENTS | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

void ls_file_watch_dir_of(struct ls_fsrc *s, const char *path)
{
    /* globs with wildcards in their directory part have no watch of their own;
     * inotify returns the existing watch for a directory watched already, so
     * this never piles up */
    char dir[PATH_MAX];
    if (s->ino_fd < 0 || ls_file_dir_of(path, dir, sizeof(dir)) != 0)
        return;
    (void)inotify_add_watch(s->ino_fd, dir, DIR_EVENTS);
}

/* Is there a wildcard in s[0..n)? */
static int has_magic(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '*' || s[i] == '?' || s[i] == '[' || s[i] == '\\')
            return 1;
    return 0;
}

void ls_file_watch_globs(struct ls_fsrc *s)
{
    if (s->ino_fd < 0)
        return;
    for (size_t i = 0; i < s->nglobs; i++) {
        struct ls_tglob *g = &s->globs[i];
        if (g->wd >= 0)
            continue;
        char dir[PATH_MAX] = ".";
        if (strchr(g->pattern, '/') &&
            (ls_file_dir_of(g->pattern, dir, sizeof(dir)) != 0 || has_magic(dir, strlen(dir))))
            continue;
        g->wd = inotify_add_watch(s->ino_fd, dir, GLOB_DIR_EVENTS);
    }
}

void ls_file_watch_drain(struct ls_fsrc *s)
{
    char b[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    if (s->ino_fd < 0)
        return;
    for (;;) {
        ssize_t r = read(s->ino_fd, b, sizeof(b));
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            break;
        }
        size_t i = 0;
        while (i + sizeof(struct inotify_event) <= (size_t)r) {
            const struct inotify_event *ev = (const struct inotify_event *)(b + i);
            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
                for (size_t k = 0; k < s->nglobs; k++)
                    if (s->globs[k].wd == ev->wd)
                        s->globs[k].wd = -1;
            }
            if (ev->mask & ~(uint32_t)IN_MODIFY)
                s->need_scan = 1;
            i += sizeof(struct inotify_event) + ev->len;
        }
    }
}

void ls_file_watch_kick(struct ls_fsrc *s, int on)
{
    if (s->kick_fd < 0 || on == s->kicked)
        return;
    uint64_t v = 1;
    if (on)
        (void)!write(s->kick_fd, &v, sizeof(v));
    else
        (void)!read(s->kick_fd, &v, sizeof(v));
    s->kicked = on;
}

/* Watch fd for input on the epoll set ep. 0, or -1 with errno. */
static int epoll_add_in(int ep, int fd)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* The descriptor the engine waits on: readable on inotify events, and also
 * when a poll stopped at its budget with more to read (the kick), so the
 * engine does not sleep while a file still has data. Falls back to the
 * inotify descriptor alone (or -1: a timer) when epoll/eventfd fail. */
static void setup_wait_fd(struct ls_fsrc *s)
{
    s->wait_fd = s->ino_fd;
    s->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->kick_fd < 0 || s->ino_fd < 0)
        return;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return;
    if (epoll_add_in(ep, s->ino_fd) != 0 || epoll_add_in(ep, s->kick_fd) != 0) {
        close(ep);
        return;
    }
    s->wait_fd = ep;
}

void ls_file_watch_setup(struct ls_fsrc *s)
{
    s->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    setup_wait_fd(s);
    if (s->ino_fd < 0)
        log_kv(LOGL_WARN, "inotify unavailable, rescanning on a timer only", "error",
               strerror(errno), NULL);
}
