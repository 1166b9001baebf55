/* spool_record: encodes, checks and decodes spool records, with their CRC-32C, so that the byte layout
 * of spool.h is written down in exactly one file. */
#include "logship/spool/spool_record.h"

#include <pthread.h>
#include <string.h>

#include "logship/spool/spool.h"

static const unsigned char REC_MAGIC[4] = { 0xF5, 'L', 'S', '2' };
#define REC_FRAME 12u           /* magic, len, crc */
#define FIXED_BODY 40u          /* seq, ts, append, 3 lengths, reserved */
#define B_SEQ 0u
#define B_TS 8u
#define B_APP 16u
#define B_LL 24u
#define B_NL 28u
#define B_OL 32u
#define B_RSV 36u
#define OLD_FRAME 8u            /* format 1: len, crc, no magic */

_Static_assert(REC_FRAME + FIXED_BODY == LS_SPOOL_REC_HDR, "spool.h's LS_SPOOL_REC_HDR is the framing");

/* CRC-32C (Castagnoli): the SSE4.2 instruction when the CPU has it (about
 * ten times zlib's crc32 here, which was a quarter of logship's CPU), else
 * a table. Both give the same values, so a spool moves between them. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc32c_sw(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p, size_t n)
{
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

static uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
    crc = ~crc;
#if defined(__x86_64__)
    if (crc_hw)
        return ~crc32c_hw(crc, data, n);
#endif
    return ~crc32c_sw(crc, data, n);
}

void ls_spool_rec_init(void)
{
    pthread_once(&crc_once, crc_init);
}

static uint32_t rec_crc(uint32_t len, const char *body)
{
    return crc32c(crc32c(0, &len, 4), body, len);
}

static uint32_t rd32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

uint64_t ls_spool_rec_seq(const char *p)
{
    uint64_t v;
    memcpy(&v, p + REC_FRAME + B_SEQ, 8);
    return v;
}

size_t ls_spool_rec_size(size_t body_len)
{
    return REC_FRAME + FIXED_BODY + body_len;
}

void ls_spool_rec_encode(char *dst, const struct ls_record *rec, uint64_t seq, int64_t app_ns)
{
    uint32_t ll = (uint32_t)rec->labels_len;
    uint32_t nl = (uint32_t)rec->line_len;
    uint32_t ol = (uint32_t)rec->origin_len;
    uint32_t zero = 0;
    uint32_t len = FIXED_BODY + ll + nl + ol;
    char *b = dst + REC_FRAME;
    memcpy(b + B_SEQ, &seq, 8);
    memcpy(b + B_TS, &rec->ts_ns, 8);
    memcpy(b + B_APP, &app_ns, 8);
    memcpy(b + B_LL, &ll, 4);
    memcpy(b + B_NL, &nl, 4);
    memcpy(b + B_OL, &ol, 4);
    memcpy(b + B_RSV, &zero, 4);
    if (ll)
        memcpy(b + FIXED_BODY, rec->labels, ll);
    if (nl)
        memcpy(b + FIXED_BODY + ll, rec->line, nl);
    if (ol)
        memcpy(b + FIXED_BODY + ll + nl, rec->origin, ol);
    uint32_t crc = rec_crc(len, b);
    memcpy(dst, REC_MAGIC, 4);
    memcpy(dst + 4, &len, 4);
    memcpy(dst + 8, &crc, 4);
}

void ls_spool_rec_decode(const char *p, struct ls_record *r, int64_t *app_ns)
{
    const char *b = p + REC_FRAME;
    uint32_t ll = rd32(b + B_LL);
    uint32_t nl = rd32(b + B_NL);
    uint32_t ol = rd32(b + B_OL);
    memcpy(&r->seq, b + B_SEQ, 8);
    memcpy(&r->ts_ns, b + B_TS, 8);
    memcpy(app_ns, b + B_APP, 8);
    r->labels = b + FIXED_BODY;
    r->labels_len = ll;
    r->line = b + FIXED_BODY + ll;
    r->line_len = nl;
    r->origin = b + FIXED_BODY + ll + nl;
    r->origin_len = ol;
}

long ls_spool_rec_check(const char *p, size_t avail, size_t max_body)
{
    if (avail < REC_FRAME)
        return avail > 0 && memcmp(p, REC_MAGIC, avail < 4 ? avail : 4) != 0 ? -1 : 0;
    if (memcmp(p, REC_MAGIC, 4) != 0)
        return -1;
    uint32_t len = rd32(p + 4);
    if (len < FIXED_BODY || len > max_body + FIXED_BODY)
        return -1;
    if (avail < REC_FRAME + (size_t)len)
        return 0;
    const char *b = p + REC_FRAME;
    if (rec_crc(len, b) != rd32(p + 8))
        return -1;
    if ((uint64_t)rd32(b + B_LL) + rd32(b + B_NL) + rd32(b + B_OL) + FIXED_BODY != len)
        return -1;
    return (long)(REC_FRAME + len);
}

const char *ls_spool_rec_resync(const char *p, size_t n)
{
    return n > 1 ? memchr(p + 1, REC_MAGIC[0], n - 1) : NULL;
}

int ls_spool_rec_is_format1(const char *p, size_t avail, size_t max_body)
{
    if (avail < OLD_FRAME || memcmp(p, REC_MAGIC, 4) == 0)
        return 0;
    uint32_t len = rd32(p);
    if (len < FIXED_BODY || len > max_body + FIXED_BODY || avail < OLD_FRAME + (size_t)len)
        return 0;
    return rec_crc(len, p + OLD_FRAME) == rd32(p + 4);
}
