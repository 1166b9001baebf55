/* connguard: per-client-address connection cap enforced in civetweb's accept(), before a connection owns a thread.
 *
 * civetweb serves a connection on one worker thread from accept to close,
 * and its master thread blocks once every worker and every queue slot is
 * taken. So whoever holds --threads connections (idle, trickling, or idle
 * on keep-alive) starves everyone else, whatever the timeouts. The only
 * point where hellod can act before a thread is committed is civetweb's
 * accept() call, which the build redirects here: a connection from an
 * address already at the cap is closed at once (the client sees a reset),
 * counted, and logged at most once a second. */
#include "service/connguard.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"

#define FD_TRACK_MAX 65536   /* descriptors above this pass uncounted */
#define NBUCKETS 4096        /* power of two */
#define MAX_LISTENERS 16

struct node {
    unsigned char key[16];   /* IPv4 (mapped) or the IPv6 /64 */
    int count;
    int next;                /* index in pool, -1 ends a chain or the free list */
};

static struct {
    pthread_mutex_t mu;
    int cap;
    long reserve_at;         /* from this many open, only addresses holding none */
    struct node *pool;       /* guarded by mu */
    int npool, free_head;    /* guarded by mu */
    int bucket[NBUCKETS];    /* guarded by mu */
    atomic_int listener[MAX_LISTENERS]; /* guarded listening fds, -1 = none */
    atomic_long open;
    atomic_uint_fast64_t refused;
    /* rate-limited refusal log, master thread only */
    time_t last_log;
    uint64_t logged_refused;
} G = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* fd -> pool index + 1 (0: untracked) */
static atomic_int fd_node[FD_TRACK_MAX];

int connguard_init(int per_addr_cap, int max_open, long reserve_at)
{
    G.cap = per_addr_cap;
    G.reserve_at = reserve_at;
    G.npool = max_open > 0 ? max_open : 1;
    G.pool = calloc((size_t)G.npool, sizeof(*G.pool));
    if (!G.pool)
        return -1;
    for (int i = 0; i < G.npool; i++)
        G.pool[i].next = i + 1 < G.npool ? i + 1 : -1;
    G.free_head = 0;
    for (int i = 0; i < NBUCKETS; i++)
        G.bucket[i] = -1;
    for (int i = 0; i < MAX_LISTENERS; i++)
        atomic_store(&G.listener[i], -1);
    return 0;
}

void connguard_free(void)
{
    free(G.pool);
    G.pool = NULL;
    G.npool = 0;
}

long connguard_open(void)
{
    return atomic_load(&G.open);
}

uint64_t connguard_refused(void)
{
    return atomic_load(&G.refused);
}

static int is_guarded(int fd);

static int is_listening_socket(int fd)
{
    int on = 0;
    socklen_t len = sizeof(on);

    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) != 0)
        return 0;
    return on != 0;
}

int connguard_guard_listeners(int defer_s)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)) && n < MAX_LISTENERS) {
        char *end;
        long fd;

        errno = 0;
        fd = strtol(e->d_name, &end, 10);
        if (errno != 0 || *end != '\0' || end == e->d_name || fd < 0 || fd == dirfd(d) ||
            !is_listening_socket((int)fd))
            continue;
        if (defer_s > 0)
            (void)setsockopt((int)fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof(defer_s));
        atomic_store(&G.listener[n], (int)fd);
        n++;
    }
    closedir(d);
    return n;
}

int connguard_is_listener(int fd)
{
    return is_guarded(fd);
}

static int is_guarded(int fd)
{
    for (int i = 0; i < MAX_LISTENERS; i++) {
        int l = atomic_load_explicit(&G.listener[i], memory_order_relaxed);
        if (l < 0)
            return 0;
        if (l == fd)
            return 1;
    }
    return 0;
}

/* The key an address is counted under: IPv4 (also v4-mapped IPv6) as the
 * whole address, IPv6 by its /64, since one host is given a /64. Returns
 * -1 for other families (not counted). */
static int addr_key(const struct sockaddr *sa, socklen_t len, unsigned char key[16])
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        key[10] = key[11] = 0xff;
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            memcpy(key, a->s6_addr, 16);
        else
            memcpy(key, a->s6_addr, 8);
        return 0;
    }
    return -1;
}

static unsigned hash_key(const unsigned char key[16])
{
    return hash_fnv1a32(key, 16) & (NBUCKETS - 1);
}

static void log_refusal(const struct sockaddr *sa)
{
    char addr[INET6_ADDRSTRLEN] = "", num[24];
    time_t now = time(NULL);
    uint64_t total = atomic_load(&G.refused);

    if (now == G.last_log)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof(addr));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof(addr));
    snprintf(num, sizeof(num), "%llu", (unsigned long long)(total - G.logged_refused));
    G.last_log = now;
    G.logged_refused = total;
    log_kv(LOGL_WARN, "connection refused: per-address limit reached", "remote", addr,
           "refused_since_last_line", num, NULL);
}

/* Count fd under sa's key. Returns 0 (counted, or passed uncounted), or
 * -1 when the key is at the cap. */
static int track(int fd, const struct sockaddr *sa, socklen_t len)
{
    unsigned char key[16];
    if (fd >= FD_TRACK_MAX || addr_key(sa, len, key) != 0 || !G.pool)
        return 0;
    unsigned h = hash_key(key);
    int rc = 0;
    pthread_mutex_lock(&G.mu);
    int i;
    for (i = G.bucket[h]; i >= 0; i = G.pool[i].next)
        if (memcmp(G.pool[i].key, key, 16) == 0)
            break;
    if (i < 0) {
        if (G.free_head < 0)
            goto out; /* table full: fail open, uncounted */
        i = G.free_head;
        G.free_head = G.pool[i].next;
        memcpy(G.pool[i].key, key, 16);
        G.pool[i].count = 0;
        G.pool[i].next = G.bucket[h];
        G.bucket[h] = i;
    }
    if (G.cap > 0 && (G.pool[i].count >= G.cap ||
                      (G.pool[i].count > 0 && atomic_load(&G.open) >= G.reserve_at))) {
        rc = -1;
        goto out;
    }
    G.pool[i].count++;
    atomic_store(&fd_node[fd], i + 1);
    atomic_fetch_add(&G.open, 1);
out:
    pthread_mutex_unlock(&G.mu);
    return rc;
}

static void untrack(int idx)
{
    unsigned h;
    int *pp;

    pthread_mutex_lock(&G.mu);
    if (--G.pool[idx].count <= 0) {
        h = hash_key(G.pool[idx].key);
        for (pp = &G.bucket[h]; *pp >= 0; pp = &G.pool[*pp].next) {
            if (*pp == idx) {
                *pp = G.pool[idx].next;
                break;
            }
        }
        G.pool[idx].next = G.free_head;
        G.free_head = idx;
    }
    pthread_mutex_unlock(&G.mu);
    atomic_fetch_sub(&G.open, 1);
}

int hellod_accept(int lfd, struct sockaddr *sa, socklen_t *len)
{
    int fd = accept(lfd, sa, len);

    if (fd < 0 || !sa || !len || !is_guarded(lfd))
        return fd;
    if (track(fd, sa, *len) == 0)
        return fd;
    atomic_fetch_add(&G.refused, 1);
    log_refusal(sa);
    (void)close(fd); /* unread data: the client gets a reset */
    errno = EAGAIN;
    return -1;
}

int hellod_close(int fd)
{
    if (fd >= 0 && fd < FD_TRACK_MAX) {
        int idx = atomic_exchange(&fd_node[fd], 0);
        if (idx > 0)
            untrack(idx - 1);
    }
    return close(fd);
}
