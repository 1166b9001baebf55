/* stats: the metric families hellod exports and the lock-free child cache of its hot path. */
#include "service/stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "service/connguard.h"
#include "service/server.h"
#include "service/tlsctx.h"

/* Statuses hellod sends; others still count, through the slow path. */
static const int known_status[] = {200, 301, 308, 400, 404, 405, 408, 411, 413, 414, 421, 431,
                                   500, 503, 505};
#define NSTATUS (sizeof(known_status) / sizeof(known_status[0]))

static const double duration_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                          0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static struct {
    metrics_registry *reg;
    metrics_family *requests, *duration, *reloads;
    metrics_child *inflight, *hs_fail, *log_errors, *cert_expiry;
    metrics_child *conns_open, *conns_refused, *ka_shed, *framing;
    metrics_child *route_duration[ROUTE__COUNT];
    _Atomic(metrics_child *) cache[ROUTE__COUNT][METHOD__COUNT][NSTATUS];
    pthread_mutex_t sync_mu;         /* guards the two "seen" values below */
    double hs_seen, log_err_seen, refused_seen, shed_seen, framing_seen;
} S = {.sync_mu = PTHREAD_MUTEX_INITIALIZER};

int stats_init(const char *version)
{
    static const char *const req_labels[] = {"method", "route", "status"};
    static const char *const route_label[] = {"route"};
    static const char *const result_label[] = {"result"};
    static const char *const version_label[] = {"version"};
    S.reg = metrics_new();
    if (!S.reg)
        return -1;
    S.requests = metrics_counter(S.reg, "hellod_http_requests_total",
                                 "HTTP requests answered, by method, route template and status.",
                                 3, req_labels);
    S.duration = metrics_histogram(S.reg, "hellod_http_request_duration_seconds",
                                   "Time from request head received to response sent.",
                                   1, route_label,
                                   sizeof(duration_buckets) / sizeof(duration_buckets[0]),
                                   duration_buckets);
    /* The label-less series: one child each. */
    static const struct {
        metrics_child **dst;
        int gauge;
        const char *name, *help;
    } singles[] = {
        {&S.inflight, 1, "hellod_http_requests_in_flight", "Requests being handled now (a scrape counts itself)."},
        {&S.hs_fail, 0, "hellod_tls_handshake_failures_total",
         "TLS handshakes that ended with a fatal alert from hellod."},
        {&S.cert_expiry, 1, "hellod_tls_certificate_expiry_timestamp_seconds",
         "Not-after time of the certificate in use (Unix seconds)."},
        {&S.log_errors, 0, "hellod_log_write_errors_total", "Log writes that failed or were short."},
        {&S.conns_open, 1, "hellod_connections_open",
         "Connections accepted on the HTTPS and redirect ports and not yet closed (queued or held by a thread)."},
        {&S.conns_refused, 0, "hellod_connections_refused_total",
         "Connections reset at accept because their client address held --max-conns-per-addr already."},
        {&S.ka_shed, 0, "hellod_keepalive_shed_total",
         "Responses that closed a keep-alive connection because most threads held a connection."},
        {&S.framing, 0, "hellod_framing_rejects_total",
         "Requests answered 400 for ambiguous framing (conflicting Content-Length, Transfer-Encoding, obs-fold, "
         "whitespace before a colon, too many fields)."},
    };
    for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
        metrics_family *one = singles[i].gauge ? metrics_gauge(S.reg, singles[i].name, singles[i].help, 0, NULL)
                                               : metrics_counter(S.reg, singles[i].name, singles[i].help, 0, NULL);
        *singles[i].dst = metrics_child_get(one, NULL);
    }
    S.reloads = metrics_counter(S.reg, "hellod_tls_certificate_reloads_total",
                                "Certificate reloads on SIGHUP, by result.", 1, result_label);
    metrics_family *f = metrics_gauge(S.reg, "process_start_time_seconds",
                      "Start time of the process since the Unix epoch in seconds.", 0, NULL);
    if (f)
        metrics_family_set(f, NULL, (double)clock_real_ns() / 1e9);
    f = metrics_gauge(S.reg, "hellod_build_info", "Build information; the value is always 1.",
                      1, version_label);
    const char *v[1] = {version};
    if (f)
        metrics_family_set(f, v, 1);
    if (!S.requests || !S.duration || !S.inflight || !S.hs_fail ||
        !S.reloads || !S.cert_expiry || !S.log_errors || !f ||
        !S.conns_open || !S.conns_refused || !S.ka_shed || !S.framing)
        return -1;
    for (int i = 0; i < ROUTE__COUNT; i++) {
        v[0] = route_name((enum route_id)i);
        S.route_duration[i] = metrics_child_get(S.duration, v);
        if (!S.route_duration[i])
            return -1;
    }
    return 0;
}

static metrics_child *request_child(enum route_id r, enum method_id m, int status)
{
    size_t si;
    for (si = 0; si < NSTATUS; si++)
        if (known_status[si] == status)
            break;
    if (si < NSTATUS) {
        metrics_child *c = atomic_load_explicit(&S.cache[r][m][si], memory_order_acquire);
        if (c)
            return c;
    }
    char st[16];
    snprintf(st, sizeof(st), "%d", status);
    const char *v[3];
    v[0] = route_method_name(m);
    v[1] = route_name(r);
    v[2] = st;
    metrics_child *c = metrics_child_get(S.requests, v);
    if (c && si < NSTATUS)
        atomic_store_explicit(&S.cache[r][m][si], c, memory_order_release);
    return c;
}

void stats_request(enum route_id route, enum method_id method, int status, double seconds)
{
    if (!S.reg || (int)route < 0 || route >= ROUTE__COUNT || (int)method < 0 ||
        method >= METHOD__COUNT)
        return;
    metrics_child *c = request_child(route, method, status);
    if (c)
        metrics_inc(c);
    metrics_observe(S.route_duration[route], seconds);
}

void stats_inflight(int delta)
{
    if (S.inflight)
        metrics_add(S.inflight, (double)delta);
}

void stats_cert_reload(int ok)
{
    const char *v[1] = {ok ? "ok" : "error"};

    if (S.reloads)
        metrics_family_add(S.reloads, v, 1);
}

/* Bring a counter fed from elsewhere up to its source's total. */
static void catch_up(metrics_child *c, double total, double *seen)
{
    if (total > *seen) {
        metrics_add(c, total - *seen);
        *seen = total;
    }
}

int stats_render(buf_t *b)
{
    double hs, le;

    if (!S.reg)
        return -1;
    pthread_mutex_lock(&S.sync_mu);
    hs = (double)tlsctx_handshake_failures();
    le = (double)log_write_errors();
    if (hs > S.hs_seen) {
        metrics_add(S.hs_fail, hs - S.hs_seen);
        S.hs_seen = hs;
    }
    if (le > S.log_err_seen) {
        metrics_add(S.log_errors, le - S.log_err_seen);
        S.log_err_seen = le;
    }
    metrics_set(S.cert_expiry, (double)tlsctx_not_after());
    metrics_set(S.conns_open, (double)connguard_open());
    catch_up(S.conns_refused, (double)connguard_refused(), &S.refused_seen);
    catch_up(S.ka_shed, (double)server_keepalive_shed(), &S.shed_seen);
    catch_up(S.framing, (double)server_framing_rejects(), &S.framing_seen);
    pthread_mutex_unlock(&S.sync_mu);
    return metrics_render(S.reg, b);
}

void stats_free(void)
{
    metrics_free(S.reg);
    S.reg = NULL;
}
