/* fuzz_logship_spool: hostile segment files: recovery and reading must never crash, and only checked records come
 * out. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/tmpdir.h"
#include "log.h"
#include "logship/spool/spool.h"

static char g_dir[128];

/* atexit hook: the scratch spool goes with the process. */
static void remove_dir(void)
{
    tmpdir_remove(g_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256], err[256];
    if (!g_dir[0]) {
        /* tmpfs when there is one: file churn on a disk would slow fuzzing 10x */
        snprintf(g_dir, sizeof(g_dir), "%s/fuzz_spool.%d",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
        mkdir(g_dir, 0700);
        atexit(remove_dir);
        log_init("fuzz", 2, NULL, LOGL_ERROR + 1);
    }
    tmpdir_empty(g_dir);
    /* Two segments: the input split in half, so both the torn-tail scan
     * (last segment) and the reader's checks (earlier segment) see it. */
    size_t half = size / 2;
    snprintf(path, sizeof(path), "%s/seg-%020d.log", g_dir, 1);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, half) != (ssize_t)half)
        abort();
    close(fd);
    snprintf(path, sizeof(path), "%s/seg-%020d.log", g_dir, 1000);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data + half, size - half) != (ssize_t)(size - half))
        abort();
    close(fd);
    struct ls_spool_opts o = { .dir = g_dir, .max_bytes = 1u << 20, .max_record_bytes = 4096,
                               .fsync = LS_FSYNC_NEVER };
    struct ls_spool *sp = ls_spool_open(&o, err, sizeof(err));
    if (!sp)
        return 0;
    struct ls_spool_reader *rd = ls_spool_reader_open(sp, "f", 8192, err, sizeof(err));
    for (int rounds = 0; rd && rounds < 1000; rounds++) {
        if (ls_spool_reader_fill(rd) < 0)
            break;
        size_t n;
        const struct ls_record *r = ls_spool_reader_batch(rd, &n, NULL);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            volatile char sink = 0;
            if (r[i].labels_len + r[i].line_len + r[i].origin_len > 4096)
                abort();
            for (size_t k = 0; k < r[i].line_len; k++)
                sink ^= r[i].line[k];
            (void)sink;
        }
        if (ls_spool_reader_ack(rd) != 0)
            break;
    }
    /* And it still takes appends afterwards. */
    struct ls_record rec = { .ts_ns = 1, .labels = "{a=\"b\"}", .labels_len = 7, .line = "x", .line_len = 1 };
    (void)ls_spool_append(sp, &rec);
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
    return 0;
}
