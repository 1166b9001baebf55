/* test_common_timefmt: RFC 3339 formatting and strict parsing, including offsets, fractions and garbage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"
#include "clock.h"

static int64_t parse(const char *s)
{
    int64_t ns = 77;
    if (timefmt_parse_rfc3339(s, strlen(s), &ns) != 0)
        fail_msg("rejected: %s", s);
    return ns;
}

static void rejected(const char *s)
{
    int64_t ns = 77;
    if (timefmt_parse_rfc3339(s, strlen(s), &ns) != -1)
        fail_msg("accepted: %s", s);
    assert_int_equal(ns, 77);
}

static void test_format(void **st)
{
    (void)st;
    char out[TIMEFMT_RFC3339_US_LEN + 1];
    struct timespec ts = {0, 0};
    assert_int_equal(timefmt_rfc3339_us(out, &ts), 27);
    assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
    ts.tv_sec = 1795831384; /* 2026-11-28T02:03:04Z */
    ts.tv_nsec = 123456789;
    timefmt_rfc3339_us(out, &ts);
    assert_string_equal(out, "2026-11-28T02:03:04.123456Z");
    ts.tv_sec = 951782400; /* leap day 2000 */
    ts.tv_nsec = 0;
    timefmt_rfc3339_us(out, &ts);
    assert_string_equal(out, "2000-02-29T00:00:00.000000Z");
    ts.tv_sec = -1;
    ts.tv_nsec = 999999000;
    timefmt_rfc3339_us(out, &ts);
    assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
    ts.tv_sec = 253402300799; /* last second of 9999 */
    timefmt_rfc3339_us(out, &ts);
    assert_string_equal(out, "9999-12-31T23:59:59.999999Z");
}

static void test_parse_values(void **st)
{
    (void)st;
    assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse("2026-11-28T02:03:04.123456Z"), 1795831384123456000LL);
    assert_int_equal(parse("2026-11-28t02:03:04.123456789z"), 1795831384123456789LL);
    assert_int_equal(parse("2026-11-28 02:03:04.1Z"), 1795831384100000000LL);
    assert_int_equal(parse("2026-11-28T04:03:04.5+02:00"), 1795831384500000000LL);
    assert_int_equal(parse("2026-11-27T21:33:04-04:30"), 1795831384000000000LL);
    assert_int_equal(parse("2026-11-28T02:03:04+00:00"), parse("2026-11-28T02:03:04-00:00"));
    assert_int_equal(parse("1969-12-31T23:59:59.5Z"), -500000000LL);
    assert_int_equal(parse("2000-02-29T12:00:00Z"), 951825600000000000LL);
    assert_int_equal(parse("2016-12-31T23:59:60Z"), parse("2017-01-01T00:00:00Z"));
    const char *frac[] = {"", ".1", ".12", ".123", ".1234", ".12345", ".123456", ".1234567",
                          ".12345678", ".123456789"};
    const int64_t want[] = {0, 100000000, 120000000, 123000000, 123400000, 123450000,
                            123456000, 123456700, 123456780, 123456789};
    for (size_t i = 0; i < 10; i++) {
        char s[64];
        (void)snprintf(s, sizeof s, "1970-01-01T00:00:10%sZ", frac[i]);
        assert_int_equal(parse(s), 10000000000LL + want[i]);
    }
}

static void test_parse_rejects(void **st)
{
    (void)st;
    const char *bad[] = {
        "", "2026", "2026-11-28", "2026-11-28T02:03:04", "2026-11-28T02:03:04.Z",
        "2026-11-28T02:03:04.1234567890Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
        "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-11-00T00:00:00Z", "2026-11-28T24:00:00Z", "2026-11-28T23:60:00Z",
        "2026-11-28T23:59:61Z", "2026-11-28X02:03:04Z", "2026/11/28T02:03:04Z",
        "2026-11-28T02:03:04+0200", "2026-11-28T02:03:04+02", "2026-11-28T02:03:04+24:00",
        "2026-11-28T02:03:04+02:60", "2026-11-28T02:03:04ZZ", "2026-11-28T02:03:04Z ",
        " 2026-11-28T02:03:04Z", "2026-11-28T02:03:04.-1Z", "+026-11-28T02:03:04Z",
        "2026-1-28T02:03:04Z", "2026-11-28T2:03:04Z", "1600-01-01T00:00:00Z",
        "2300-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-11-28T02:03:04UTC",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        rejected(bad[i]);
    /* A NUL inside the given length is not the end of the string. */
    int64_t ns = 5;
    assert_int_equal(timefmt_parse_rfc3339("2026-11-28T02:03:04Z\0", 21, &ns), -1);
    assert_int_equal(timefmt_parse_rfc3339("2026-11-28T02:03:04\0Z", 21, &ns), -1);
    assert_int_equal(ns, 5);
}

static void test_round_trip(void **st)
{
    (void)st;
    unsigned seed = 7;
    char out[TIMEFMT_RFC3339_US_LEN + 1];
    for (int i = 0; i < 100000; i++) {
        /* seconds across 1678..2261 */
        int64_t sec = ((int64_t)rand_r(&seed) << 20 ^ rand_r(&seed)) % 9000000000LL;
        struct timespec ts = {(time_t)sec, (long)(rand_r(&seed) % 1000000) * 1000};
        timefmt_rfc3339_us(out, &ts);
        int64_t ns;
        assert_int_equal(timefmt_parse_rfc3339(out, TIMEFMT_RFC3339_US_LEN, &ns), 0);
        assert_int_equal(ns, sec * 1000000000LL + ts.tv_nsec);
    }
}

static void test_now(void **st)
{
    (void)st;
    int64_t a = clock_real_ns();
    assert_true(a > 1700000000LL * 1000000000LL);
    assert_true(clock_real_ns() >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse_values),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
