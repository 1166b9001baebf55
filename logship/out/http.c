/* http: a libcurl easy handle per output, kept alive across batches, with the auth and TLS options every HTTP
 * backend shares. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fdio.h"
#include "log.h"
#include "logship/out/http.h"

#define TOKEN_MAX (16 * 1024)
#define DEFAULT_CONNECT_MS 10000
#define DEFAULT_REQUEST_MS 30000
#define RETRY_AFTER_CAP_MS (24LL * 3600 * 1000)

/* A credential read from a file and re-read when the file changes. */
struct secret {
    const char *path;     /* NULL: this credential does not come from a file */
    const char *what;     /* "bearer token file", ... for messages */
    int trim_ws;          /* strip all surrounding whitespace (a token), else trailing CR/LF */
    char *value;          /* last good value, or NULL */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int warned;           /* a failed re-read was reported (until the next good read) */
};

enum { SECRET_TOKEN, SECRET_PASSWORD, SECRET_APIKEY, SECRET_N };

struct ls_http {
    CURL *curl;
    const struct ls_output_conf *conf;
    char errbuf[CURL_ERROR_SIZE];
    struct secret sec[SECRET_N]; /* credential files, re-read when they change */
    char *token;          /* "Authorization: Bearer <token>" header line, or NULL */
    char *apikey_hdr;     /* "Authorization: ApiKey <key>", or NULL */
    struct ls_http_response *cur; /* response being filled by the callbacks */
    size_t body_max;      /* response body cap, LS_HTTP_BODY_MAX unless set */
    int get;              /* this request is ls_http_get's */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct ls_http *h = ud;
    size_t n = size * nmemb;
    buf_t *b = &h->cur->body;
    size_t room = b->len < h->body_max ? h->body_max - b->len : 0;
    size_t take = n < room ? n : room;
    /* Past the cap the rest is read and discarded: the connection stays usable. */
    if (take > 0 && buf_add(b, ptr, take) != 0)
        return n;
    return n;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int ls_http_parse_retry_after(const char *value, size_t len, time_t now, int64_t *ms)
{
    char tmp[128];
    while (len > 0 && is_ws(*value)) {
        value++;
        len--;
    }
    while (len > 0 && is_ws(value[len - 1]))
        len--;
    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, value, len);
    tmp[len] = '\0';
    int digits = 1;
    for (size_t i = 0; i < len; i++)
        if (tmp[i] < '0' || tmp[i] > '9')
            digits = 0;
    if (digits) {
        int64_t secs = 0;
        for (size_t i = 0; i < len; i++) {
            secs = secs * 10 + (tmp[i] - '0');
            if (secs > RETRY_AFTER_CAP_MS / 1000) {
                secs = RETRY_AFTER_CAP_MS / 1000;
                break;
            }
        }
        *ms = secs * 1000;
        return 0;
    }
    /* An HTTP-date has a day name and a comma or spaces; curl_getdate also
     * accepts free-form text, so insist on a weekday prefix as RFC 9110 does. */
    static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
    int day = 0;
    for (size_t i = 0; i < 7; i++)
        if (strncmp(tmp, days[i], 3) == 0)
            day = 1;
    if (!day)
        return -1;
    time_t t = curl_getdate(tmp, NULL);
    if (t == (time_t)-1)
        return -1;
    int64_t d = ((int64_t)t - (int64_t)now) * 1000;
    if (d < 0)
        d = 0;
    if (d > RETRY_AFTER_CAP_MS)
        d = RETRY_AFTER_CAP_MS;
    *ms = d;
    return 0;
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *ud)
{
    struct ls_http *h = ud;
    size_t n = size * nitems;
    static const char ra[] = "retry-after:";
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* a new response (e.g. after a 100 Continue): forget the previous headers */
        h->cur->retry_after_ms = -1;
    } else if (n > sizeof(ra) - 1 && strncasecmp(ptr, ra, sizeof(ra) - 1) == 0) {
        int64_t ms;
        if (ls_http_parse_retry_after(ptr + sizeof(ra) - 1, n - (sizeof(ra) - 1), time(NULL), &ms) == 0)
            h->cur->retry_after_ms = ms;
    }
    return n;
}

/* Read fd to its end (common/fdio) as a NUL-terminated string in *data (malloc'ed; the caller
 * frees it), *got bytes. 0, or -1 with the reason in err (a read error, more than TOKEN_MAX bytes,
 * or no memory). */
static int read_secret(const struct secret *sf, int fd, char **data, size_t *got, char *err, size_t errlen)
{
    buf_t rd;
    buf_init(&rd, TOKEN_MAX + 1);
    int r = fdio_read_all(fd, &rd, TOKEN_MAX);
    int e = errno;
    if (r == 0 && buf_addc(&rd, '\0') != 0) {
        r = -1;
        e = ENOMEM;
    }
    if (r != 0) {
        if (e == EFBIG)
            snprintf(err, errlen, "%s %s: larger than %d bytes", sf->what, sf->path, TOKEN_MAX);
        else
            snprintf(err, errlen, "%s %s: %s", sf->what, sf->path, strerror(e));
        buf_free(&rd);
        return -1;
    }
    *data = buf_steal(&rd, got);
    if (!*data) {
        snprintf(err, errlen, "%s %s: out of memory", sf->what, sf->path);
        return -1;
    }
    *got -= 1; /* the NUL */
    return 0;
}

/* The value in data[0..n): trimmed (whitespace around a token, else the
 * trailing line ends), moved to data's start and NUL-terminated. 0, or -1
 * with the reason in err when it is empty or holds a control character. */
static int clean_secret(const struct secret *sf, char *data, size_t n, char *err, size_t errlen)
{
    size_t a = 0, b = n;
    if (sf->trim_ws) {
        while (a < b && is_ws(data[a]))
            a++;
        while (b > a && is_ws(data[b - 1]))
            b--;
    } else {
        while (b > a && (data[b - 1] == '\n' || data[b - 1] == '\r'))
            b--;
    }
    if (a == b) {
        snprintf(err, errlen, "%s %s is empty", sf->what, sf->path);
        return -1;
    }
    for (size_t i = a; i < b; i++) {
        unsigned char c = (unsigned char)data[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            snprintf(err, errlen, "%s %s: control character (CR, LF, NUL, ...) in the value; refused",
                     sf->what, sf->path);
            return -1;
        }
    }
    memmove(data, data + a, b - a);
    data[b - a] = '\0';
    return 0;
}

/* Read sf->path into sf->value when the file changed (identity, size or
 * mtime) since the last read. Trailing CR/LF are stripped (all surrounding
 * whitespace for a token); what is left must be non-empty and hold no
 * control character, so a file can never add a header of its own. Sets
 * *changed when sf->value was replaced. Returns 0 (value current), or -1 with
 * the reason in err (the previous value, if any, stays: the file is not
 * sent half-written or with CR/LF). Messages name the file, never the value. */
static int secret_refresh(struct secret *sf, int *changed, char *err, size_t errlen)
{
    int fd = -1, rc = -1;
    char *data = NULL;   /* both freed at out: */
    *changed = 0;
    const char *path = sf->path;
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s %s: %s", sf->what, path, strerror(errno));
        goto out;
    }
    if (sf->value && st.st_dev == sf->dev && st.st_ino == sf->ino && st.st_size == sf->size &&
        st.st_mtim.tv_sec == sf->mtime.tv_sec && st.st_mtim.tv_nsec == sf->mtime.tv_nsec) {
        rc = 0;
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: %s", sf->what, path, strerror(errno));
        goto out;
    }
    size_t got;
    if (read_secret(sf, fd, &data, &got, err, errlen) != 0 || clean_secret(sf, data, got, err, errlen) != 0)
        goto out;
    free(sf->value);
    sf->value = data;
    data = NULL;
    sf->dev = st.st_dev;
    sf->ino = st.st_ino;
    sf->size = st.st_size;
    sf->mtime = st.st_mtim;
    sf->warned = 0;
    *changed = 1;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(data);
    return rc;
}

/* "prefix value" as a new string, or NULL on OOM. */
static char *header_line(const char *prefix, const char *value)
{
    size_t pl = strlen(prefix), vl = strlen(value);
    char *line = malloc(pl + vl + 1);
    if (line) {
        memcpy(line, prefix, pl);
        memcpy(line + pl, value, vl + 1);
    }
    return line;
}

static const char BEARER[] = "Authorization: Bearer ";
static const char APIKEY[] = "Authorization: ApiKey ";

/* Re-read every secret file of h that changed and rebuild what depends on
 * it (header lines, the basic auth password). Returns 0, or -1 with err set
 * for the first file that could not be used (its old value stays). */
static int secrets_refresh(struct ls_http *h, char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; i < SECRET_N; i++) {
        struct secret *sf = &h->sec[i];
        int changed = 0;
        char e[256];
        if (!sf->path)
            continue;
        if (secret_refresh(sf, &changed, e, sizeof(e)) != 0) {
            if (!sf->warned && rc == 0)
                snprintf(err, errlen, "%s", e);
            if (!sf->warned)
                rc = -1;
            sf->warned = 1;
            continue;
        }
        if (!changed)
            continue;
        if (i == SECRET_PASSWORD) {
            if (curl_easy_setopt(h->curl, CURLOPT_PASSWORD, sf->value) != CURLE_OK && rc == 0) {
                snprintf(err, errlen, "libcurl: cannot set the password");
                rc = -1;
            }
            continue;
        }
        char **hdr = i == SECRET_TOKEN ? &h->token : &h->apikey_hdr;
        char *line = header_line(i == SECRET_TOKEN ? BEARER : APIKEY, sf->value);
        if (!line) {
            if (rc == 0)
                snprintf(err, errlen, "%s %s: out of memory", sf->what, sf->path);
            rc = -1;
            sf->dev = 0; /* read it again next time */
            sf->ino = 0;
            continue;
        }
        free(*hdr);
        *hdr = line;
    }
    return rc;
}

static int readable(const char *what, const char *path, char *err, size_t errlen)
{
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    return 0;
}

#define SETOPT(opt, val)                                                          \
    do {                                                                          \
        CURLcode c_ = curl_easy_setopt(h->curl, opt, val);                        \
        if (c_ != CURLE_OK) {                                                     \
            snprintf(err, errlen, "libcurl: setting %s: %s", #opt, curl_easy_strerror(c_)); \
            return -1;                                                            \
        }                                                                         \
    } while (0)

/* The options every request shares: HTTP/1.1 only, no redirects, timeouts,
 * keepalive, and the body and header callbacks. 0, or -1 with err set. */
static int set_transport(struct ls_http *h, const struct ls_output_conf *conf, char *err, size_t errlen)
{
    long cto = conf->connect_timeout_ms > 0 ? (long)conf->connect_timeout_ms : DEFAULT_CONNECT_MS;
    long rto = conf->request_timeout_ms > 0 ? (long)conf->request_timeout_ms : DEFAULT_REQUEST_MS;
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_ERRORBUFFER, h->errbuf);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, cto);
    SETOPT(CURLOPT_TIMEOUT_MS, rto);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_TCP_NODELAY, 1L);
    SETOPT(CURLOPT_USERAGENT, "logship/" PROJECT_VERSION);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, h);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, h);
    SETOPT(CURLOPT_POST, 1L);
    return 0;
}

/* Basic auth, and which credentials come from files (read by
 * secrets_refresh); an API key given inline becomes its header line now.
 * 0, or -1 with err set. */
static int set_credentials(struct ls_http *h, const struct ls_output_conf *conf, char *err, size_t errlen)
{
    if (conf->username && *conf->username) {
        SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SETOPT(CURLOPT_USERNAME, conf->username);
        SETOPT(CURLOPT_PASSWORD, conf->password ? conf->password : "");
        if (conf->password_file && *conf->password_file)
            h->sec[SECRET_PASSWORD] = (struct secret){ .path = conf->password_file, .what = "password file" };
    }
    if (conf->bearer_token_file && *conf->bearer_token_file)
        h->sec[SECRET_TOKEN] = (struct secret){ .path = conf->bearer_token_file, .what = "bearer token file",
                                                .trim_ws = 1 };
    if (conf->api_key_file && *conf->api_key_file)
        h->sec[SECRET_APIKEY] = (struct secret){ .path = conf->api_key_file, .what = "API key file" };
    else if (conf->api_key && *conf->api_key && !(h->apikey_hdr = header_line(APIKEY, conf->api_key))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* The CA file, the client certificate and key (each must be readable now),
 * and verification. 0, or -1 with err set. */
static int set_tls(struct ls_http *h, const struct ls_output_conf *conf, char *err, size_t errlen)
{
    if (conf->ca_file && *conf->ca_file) {
        if (readable("CA file", conf->ca_file, err, errlen) != 0)
            return -1;
        SETOPT(CURLOPT_CAINFO, conf->ca_file);
    }
    if (conf->cert_file && *conf->cert_file) {
        if (readable("client certificate", conf->cert_file, err, errlen) != 0 ||
            readable("client key", conf->key_file, err, errlen) != 0)
            return -1;
        SETOPT(CURLOPT_SSLCERT, conf->cert_file);
        SETOPT(CURLOPT_SSLKEY, conf->key_file);
    }
    if (conf->insecure_skip_verify) {
        SETOPT(CURLOPT_SSL_VERIFYPEER, 0L);
        SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return 0;
}

struct ls_http *ls_http_new(const struct ls_output_conf *conf, char *err, size_t errlen)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl: global init failed: %s", curl_easy_strerror(global_rc));
        return NULL;
    }
    if ((conf->cert_file && *conf->cert_file) != (conf->key_file && *conf->key_file)) {
        snprintf(err, errlen, "a client certificate needs both a certificate and a key file");
        return NULL;
    }
    struct ls_http *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->conf = conf;
    h->body_max = LS_HTTP_BODY_MAX;
    h->curl = curl_easy_init();
    if (!h->curl) {
        snprintf(err, errlen, "libcurl: cannot create a handle");
        goto out;
    }
    if (set_transport(h, conf, err, errlen) != 0 || set_credentials(h, conf, err, errlen) != 0)
        goto out;
    /* A credential file that cannot be used at start is a configuration error. */
    if (secrets_refresh(h, err, errlen) != 0 || set_tls(h, conf, err, errlen) != 0)
        goto out;
    return h;
out:
    ls_http_free(h);
    return NULL;
}

int ls_http_set_body_max(struct ls_http *h, size_t max)
{
    if (max == 0 || max > LS_HTTP_BODY_MAX_LIMIT)
        return -1;
    h->body_max = max;
    return 0;
}

int ls_http_post(struct ls_http *h, const char *url, const char *const *extra_headers,
                 const void *body, size_t len, struct ls_http_response *resp)
{
    struct curl_slist *hdrs = NULL;   /* freed at out: */
    int rc = -1, oom = 1;
    memset(resp, 0, sizeof(*resp));
    buf_init(&resp->body, h->body_max);
    resp->retry_after_ms = -1;
    h->cur = resp;
    h->errbuf[0] = '\0';
    char err[256];
    if (secrets_refresh(h, err, sizeof(err)) != 0) {
        /* Keep sending the last good value; said once per file until it is good again. */
        log_kv(LOGL_WARN, "cannot re-read a credential file; using the previous value",
               "output", h->conf->name ? h->conf->name : "", "error", err, NULL);
    }
    struct curl_slist *t;
    for (size_t i = 0; extra_headers && extra_headers[i]; i++) {
        if (!(t = curl_slist_append(hdrs, extra_headers[i])))
            goto out;
        hdrs = t;
    }
    if (!(t = curl_slist_append(hdrs, "Expect:")))
        goto out;
    hdrs = t;
    if (h->token) {
        if (!(t = curl_slist_append(hdrs, h->token)))
            goto out;
        hdrs = t;
    }
    if (h->apikey_hdr) {
        if (!(t = curl_slist_append(hdrs, h->apikey_hdr)))
            goto out;
        hdrs = t;
    }
    oom = 0;   /* the headers are built: what fails now says why itself */
    CURLcode c;
    if ((c = curl_easy_setopt(h->curl, CURLOPT_URL, url)) != CURLE_OK ||
        (c = curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs)) != CURLE_OK ||
        (h->get && (c = curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L)) != CURLE_OK) ||
        (!h->get && (c = curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body)) != CURLE_OK) ||
        (!h->get && (c = curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len)) != CURLE_OK)) {
        snprintf(resp->error, sizeof(resp->error), "libcurl: %s", curl_easy_strerror(c));
        goto out;
    }
    c = curl_easy_perform(h->curl);
    if (c != CURLE_OK) {
        resp->timed_out = c == CURLE_OPERATION_TIMEDOUT;
        snprintf(resp->error, sizeof(resp->error), "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(c));
        resp->status = 0;
        goto out;
    }
    if (curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status) != CURLE_OK || resp->status == 0) {
        snprintf(resp->error, sizeof(resp->error), "no HTTP status in the response");
        resp->status = 0;
        goto out;
    }
    rc = 0;
out:
    if (oom)
        snprintf(resp->error, sizeof(resp->error), "out of memory building request headers");
    /* The handle keeps a pointer to the list: detach it before freeing. */
    (void)curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    (void)curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
    if (h->get)
        (void)curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
    curl_slist_free_all(hdrs);
    h->cur = NULL;
    return rc;
}

int ls_http_get(struct ls_http *h, const char *url, const char *const *extra_headers,
                struct ls_http_response *resp)
{
    /* The same path as a POST (auth, headers, caps), with the method switched. */
    h->get = 1;
    int rc = ls_http_post(h, url, extra_headers, NULL, 0, resp);
    h->get = 0;
    return rc;
}

void ls_http_response_free(struct ls_http_response *r)
{
    if (!r)
        return;
    buf_free(&r->body);
    buf_init(&r->body, LS_HTTP_BODY_MAX);
}

void ls_http_free(struct ls_http *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    free(h->token);
    free(h->apikey_hdr);
    for (size_t i = 0; i < SECRET_N; i++)
        free(h->sec[i].value);
    free(h);
}
