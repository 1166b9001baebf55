/* fuzz_logship_spool_marks: hostile marks.json and origins: never a crash, garbage merges nothing, and what loads
 * saves and loads back the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logship/spool/spool_marks.h"

static char g_dir[128];

static void remove_dir(void)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/a.json", g_dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/b.json", g_dir);
    unlink(p);
    rmdir(g_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char a[256], b[256];
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof(g_dir), "%s/fuzz_marks.%d",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
        mkdir(g_dir, 0700);
        atexit(remove_dir);
    }
    struct ls_mark m, m2;
    if (ls_marks_parse_origin((const char *)data, size, 1, &m) == 1) {
        /* what parses means what the file source would have written */
        char o[128];
        int n = snprintf(o, sizeof(o), "f:%llu:%llu:%016llx@%llu", (unsigned long long)m.dev,
                         (unsigned long long)m.ino, (unsigned long long)m.fp, (unsigned long long)m.off);
        if (ls_marks_parse_origin(o, (size_t)n, 1, &m2) != 1 || memcmp(&m, &m2, sizeof(m)) != 0)
            abort();
    }
    snprintf(a, sizeof(a), "%s/a.json", g_dir);
    snprintf(b, sizeof(b), "%s/b.json", g_dir);
    FILE *f = fopen(a, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size))
        abort();
    fclose(f);
    struct ls_marks *ms = ls_marks_new(), *back = ls_marks_new();
    if (!ms || !back)
        abort();
    int r = ls_marks_load(ms, a);
    if (r == 1 && ls_marks_count(ms) != 0)
        abort(); /* garbage merges nothing */
    if (r == 0) {
        if (ls_marks_save(ms, b) != 0 || ls_marks_load(back, b) != 0 ||
            ls_marks_count(back) != ls_marks_count(ms) || ls_marks_max_seq(back) != ls_marks_max_seq(ms))
            abort();
    }
    ls_marks_free(ms);
    ls_marks_free(back);
    return 0;
}
