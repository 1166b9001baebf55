/* timefmt: RFC 3339 formatting and strict parsing by hand (days-from-civil arithmetic, no libc time zone code). */
#include "timefmt.h"

#include <string.h>

/* Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put2(char *o, unsigned v)
{
    o[0] = (char)('0' + v / 10);
    o[1] = (char)('0' + v % 10);
}

/* Write ".<digits>Z" and a NUL at out[19..]: the fraction v, zero-padded. */
static void put_frac_z(char *out, uint32_t v, int digits)
{
    out[19] = '.';
    for (int i = 19 + digits; i >= 20; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
    out[20 + digits] = 'Z';
    out[21 + digits] = '\0';
}

void timefmt_put_us_z(char *out, unsigned us)
{
    put_frac_z(out, us, 6);
}

/* Write "YYYY-MM-DDTHH:MM:SS" (19 bytes) for sec since the epoch, the year
 * clamped into 0..9999. */
static void put_date_time(char *out, int64_t sec)
{
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0)
        y = 0;
    if (y > 9999)
        y = 9999;
    unsigned yy = (unsigned)y;
    out[0] = (char)('0' + yy / 1000);
    out[1] = (char)('0' + yy / 100 % 10);
    out[2] = (char)('0' + yy / 10 % 10);
    out[3] = (char)('0' + yy % 10);
    out[4] = '-';
    put2(out + 5, m);
    out[7] = '-';
    put2(out + 8, d);
    out[10] = 'T';
    put2(out + 11, (unsigned)(rem / 3600));
    out[13] = ':';
    put2(out + 14, (unsigned)(rem / 60 % 60));
    out[16] = ':';
    put2(out + 17, (unsigned)(rem % 60));
}

size_t timefmt_rfc3339_us(char *out, const struct timespec *ts)
{
    long ns = ts->tv_nsec;
    if (ns < 0 || ns >= 1000000000L)
        ns = 0;
    put_date_time(out, (int64_t)ts->tv_sec);
    timefmt_put_us_z(out, (unsigned)(ns / 1000));
    return TIMEFMT_RFC3339_US_LEN;
}

size_t timefmt_rfc3339_s(char *out, int64_t sec)
{
    put_date_time(out, sec);
    out[19] = 'Z';
    out[20] = '\0';
    return TIMEFMT_RFC3339_S_LEN;
}

#define FIRST_SEC (-62167219200LL)   /* 0000-01-01T00:00:00Z */
#define LAST_SEC 253402300799LL      /* 9999-12-31T23:59:59Z */

size_t timefmt_rfc3339_ns(char *out, int64_t ts_ns)
{
    /* Formatting the date costs more than the rest of an Elasticsearch
     * document's framing, and consecutive records share their second: cache it. */
    static _Thread_local int64_t cached_sec = INT64_MIN;
    static _Thread_local char cached[19];
    int64_t sec = ts_ns / 1000000000, ns = ts_ns % 1000000000;
    if (ns < 0) {
        ns += 1000000000;
        sec--;
    }
    if (sec < FIRST_SEC) {
        sec = FIRST_SEC;
        ns = 0;
    }
    if (sec > LAST_SEC) {
        sec = LAST_SEC;
        ns = 999999999;
    }
    if (sec != cached_sec) {
        put_date_time(cached, sec);
        cached_sec = sec;
    }
    memcpy(out, cached, 19);
    put_frac_z(out, (uint32_t)ns, 9);
    return TIMEFMT_RFC3339_NS_LEN;
}

/* Read exactly k digits at s; -1 if any is not a digit. */
static int digits(const char *s, int k)
{
    int v = 0;
    for (int i = 0; i < k; i++) {
        unsigned c = (unsigned char)s[i] - '0';
        if (c > 9)
            return -1;
        v = v * 10 + (int)c;
    }
    return v;
}

static unsigned days_in_month(int y, int m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return 29;
    return dim[m - 1];
}

int timefmt_parse_rfc3339(const char *s, size_t n, int64_t *ns)
{
    if (n < 20)
        return -1;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        se < 0 || se > 60 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':')
        return -1;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return -1;
    if ((unsigned)d > days_in_month(y, mo))
        return -1;
    size_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        i++;
        int k = 0;
        while (i < n && (unsigned)((unsigned char)s[i] - '0') <= 9) {
            if (++k > 9)
                return -1;
            frac = frac * 10 + (s[i] - '0');
            i++;
        }
        if (k == 0)
            return -1;
        for (; k < 9; k++)
            frac *= 10;
    }
    if (i >= n)
        return -1;
    int64_t off = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        if (n - i < 6 || s[i + 3] != ':')
            return -1;
        int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        off = (int64_t)oh * 3600 + om * 60;
        if (s[i] == '-')
            off = -off;
        i += 6;
    } else {
        return -1;
    }
    if (i != n)
        return -1;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
                   (int64_t)h * 3600 + mi * 60 + se - off;
    /* int64 nanoseconds cover 1677-09-21 .. 2262-04-11. */
    const int64_t lim = INT64_MAX / 1000000000 - 1;
    if (secs > lim || secs < -lim)
        return -1;
    *ns = secs * 1000000000 + frac;
    return 0;
}
