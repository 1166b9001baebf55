/* fuzz_logship_spool_resync: damage a segment of known records anywhere; recovery must still deliver every record
 * whose bytes are intact. */
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

#define NREC 40

static char g_dir[128];
static unsigned char *g_seg, *g_next;    /* the damaged segment's original bytes, and a valid one after it */
static size_t g_seg_len, g_next_len;
static size_t g_off[NREC], g_len[NREC];  /* where each record of g_seg is */
static char g_line[NREC][96];
static size_t g_line_len[NREC];

static unsigned char *slurp(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0)
        abort();
    unsigned char *p = malloc((size_t)st.st_size + 1);
    if (!p || read(fd, p, (size_t)st.st_size) != st.st_size)
        abort();
    close(fd);
    *len = (size_t)st.st_size;
    return p;
}

static struct ls_spool *open_spool(void)
{
    char err[256];
    struct ls_spool_opts o = { .dir = g_dir, .max_bytes = 1u << 20, .max_record_bytes = 4096,
                               .fsync = LS_FSYNC_NEVER };
    return ls_spool_open(&o, err, sizeof(err));
}

/* Records 1..NREC in seg-1, record NREC+1 in seg-(NREC+1). Some lines hold
 * the record magic itself, so a resync has false starts to reject. */
static void build(void)
{
    char path[256];
    struct ls_spool *sp = open_spool();
    if (!sp)
        abort();
    for (int i = 0; i < NREC; i++) {
        int n = snprintf(g_line[i], sizeof(g_line[i]), "line %d %s%.*s", i,
                         i % 3 == 0 ? "\xf5LS2\xf5LS2" : "", i * 2 % 50,
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        g_line_len[i] = (size_t)n;
        struct ls_record r = { .ts_ns = i, .labels = "{a=\"b\"}", .labels_len = 7, .line = g_line[i],
                               .line_len = (size_t)n, .origin = "f:1:2:0000000000000003@4", .origin_len = 24 };
        if (ls_spool_append(sp, &r) != 0)
            abort();
    }
    ls_spool_close(sp);
    sp = open_spool();
    struct ls_record r = { .ts_ns = 99, .labels = "{a=\"b\"}", .labels_len = 7, .line = "last", .line_len = 4 };
    if (!sp || ls_spool_append(sp, &r) != 0)
        abort();
    ls_spool_close(sp);
    snprintf(path, sizeof(path), "%s/seg-%020d.log", g_dir, 1);
    g_seg = slurp(path, &g_seg_len);
    snprintf(path, sizeof(path), "%s/seg-%020d.log", g_dir, NREC + 1);
    g_next = slurp(path, &g_next_len);
    size_t pos = 0;
    for (int i = 0; i < NREC; i++) {
        uint32_t len;
        memcpy(&len, g_seg + pos + 4, 4);
        g_off[i] = pos;
        g_len[i] = 12 + (size_t)len;
        pos += g_len[i];
    }
    if (pos != g_seg_len)
        abort();
}

static void put(const char *name, const unsigned char *p, size_t n)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n))
        abort();
    close(fd);
}

/* atexit hook: the scratch spool goes with the process. */
static void remove_dir(void)
{
    tmpdir_remove(g_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[64];
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof(g_dir), "%s/fuzz_resync.%d",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
        mkdir(g_dir, 0700);
        atexit(remove_dir);
        log_init("fuzz", 2, NULL, LOGL_ERROR + 1);
        tmpdir_empty(g_dir);
        build();
    }
    if (size < 3)
        return 0;
    /* Input: u16 offset, u8 mode, then the bytes written over the segment
     * from that offset (mode bit 0: also cut the segment after them). */
    size_t off = ((size_t)data[0] | (size_t)data[1] << 8) % g_seg_len;
    int cut = data[2] & 1;
    size_t plen = size - 3;
    if (plen > g_seg_len - off)
        plen = g_seg_len - off;
    unsigned char *seg = malloc(g_seg_len);
    if (!seg)
        abort();
    memcpy(seg, g_seg, g_seg_len);
    memcpy(seg + off, data + 3, plen);
    size_t seg_len = cut ? off + plen : g_seg_len;
    tmpdir_empty(g_dir);
    put("seg-00000000000000000001.log", seg, seg_len);
    snprintf(name, sizeof(name), "seg-%020d.log", NREC + 1);
    put(name, g_next, g_next_len);

    int intact[NREC + 2], got[NREC + 2];
    memset(got, 0, sizeof(got));
    for (int i = 0; i < NREC; i++)
        intact[i + 1] = g_off[i] + g_len[i] <= seg_len &&
                        memcmp(seg + g_off[i], g_seg + g_off[i], g_len[i]) == 0;
    intact[NREC + 1] = 1;
    struct ls_spool *sp = open_spool();
    if (!sp)
        abort(); /* damage is never a reason to refuse the spool */
    char err[256];
    struct ls_spool_reader *rd = ls_spool_reader_open(sp, "f", 1u << 16, err, sizeof(err));
    if (!rd)
        abort();
    uint64_t last = 0;
    for (int rounds = 0; rounds < 100; rounds++) {
        if (ls_spool_reader_fill(rd) < 0)
            abort();
        size_t n;
        const struct ls_record *r = ls_spool_reader_batch(rd, &n, NULL);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            if (r[i].seq <= last || r[i].seq > NREC + 1)
                abort(); /* in order, and never a record that was not written */
            last = r[i].seq;
            got[r[i].seq] = 1;
            if (r[i].seq <= NREC && (r[i].line_len != g_line_len[r[i].seq - 1] ||
                                     memcmp(r[i].line, g_line[r[i].seq - 1], r[i].line_len) != 0))
                abort(); /* a record that passed its CRC is the one written */
        }
        if (ls_spool_reader_ack(rd) != 0)
            abort();
    }
    for (int s = 1; s <= NREC + 1; s++)
        if (intact[s] && !got[s]) {
            fprintf(stderr, "intact record %d lost (damage at %zu, %zu bytes, cut %d)\n", s, off, plen, cut);
            abort();
        }
    ls_spool_reader_close(rd);
    ls_spool_close(sp);
    free(seg);
    return 0;
}
