/* loki_harness: runs tests/receivers/loki.py as a child process for the Loki output's cmocka test.
 *
 * The one unit test that still forks the Python receiver, on purpose: it checks the Loki output against the
 * receiver's whole model of Loki (validation, per-stream limits, replays, the query API), which a C copy would
 * duplicate. Tests that need only scripted HTTP answers use tests/unit/fake_http.c in process.
 *
 * Header-only (static functions) because each unit test is one file. The
 * receiver listens on a free port it picks itself and prints it; the admin API
 * (/_receiver/...) scripts failures and reads back what arrived. Admin calls
 * use plain libcurl, not the code under test. */
#ifndef TESTS_UNIT_LOKI_HARNESS_H
#define TESTS_UNIT_LOKI_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

struct rx {
    pid_t pid;
    int port;
    char url[128];
};

/* Start the receiver with extra arguments (NULL-terminated, may be NULL). 0 or -1. */
static int rx_start(struct rx *r, const char *const *extra)
{
    int fds[2];
    const char *script = getenv("LOKI_RECEIVER");
    if (!script)
        script = "tests/receivers/loki.py";
    if (pipe(fds) != 0)
        return -1;
    const char *argv[32] = { "/usr/bin/python3", script, "--host", "127.0.0.1", "--port", "0" };
    size_t n = 6;
    for (size_t i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char line[32];
    size_t got = 0;
    while (got < sizeof(line) - 1) {
        ssize_t k = read(fds[0], line + got, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0 || line[got] == '\n')
            break;
        got++;
    }
    line[got] = '\0';
    close(fds[0]);
    char *end;
    long port = strtol(line, &end, 10);
    if (got == 0 || *end || port <= 0 || port > 65535) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    r->pid = pid;
    r->port = (int)port;
    int tls = 0;
    for (size_t i = 0; extra && extra[i]; i++)
        if (strcmp(extra[i], "--tls-cert") == 0)
            tls = 1;
    snprintf(r->url, sizeof(r->url), "%s://127.0.0.1:%d", tls ? "https" : "http", r->port);
    return 0;
}

static void rx_stop(struct rx *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
}

struct rx_buf {
    char *p;
    size_t n;
};

static size_t rx_write(char *p, size_t s, size_t n, void *ud)
{
    struct rx_buf *b = ud;
    char *q = realloc(b->p, b->n + s * n + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, p, s * n);
    b->n += s * n;
    q[b->n] = '\0';
    b->p = q;
    return s * n;
}

/* Call the admin API over plain HTTP (the admin API of a TLS receiver is not
 * reachable this way; TLS tests read nothing back through it). json NULL → GET.
 * Returns the parsed JSON answer (caller puts it) or NULL. */
static json_object *rx_admin(const struct rx *r, const char *path, const char *json)
{
    char url[256];
    struct rx_buf b = { NULL, 0 };
    json_object *out = NULL;
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/_receiver/%s", r->port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rx_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (json)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    long st = 0;
    if (curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st) == CURLE_OK &&
        st == 200 && b.p)
        out = json_tokener_parse(b.p);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(b.p);
    return out;
}

/* Admin POST whose answer is not needed. 0 or -1. */
__attribute__((unused)) static int rx_do(const struct rx *r, const char *path, const char *json)
{
    json_object *o = rx_admin(r, path, json ? json : "{}");
    if (!o)
        return -1;
    json_object_put(o);
    return 0;
}

/* A field of the n-th from last push request (0 = the last), as a string; the
 * result is copied into out. Header names are looked up case-sensitively as
 * curl sends them. Returns 0 or -1 when absent. */
__attribute__((unused)) static int rx_request_field(const struct rx *r, size_t from_last, const char *header, const char *field,
                            char *out, size_t outlen)
{
    int rc = -1;
    json_object *all = rx_admin(r, "requests", NULL), *q, *v, *hd;
    if (!all)
        return -1;
    size_t n = json_object_array_length(all);
    if (from_last >= n)
        goto out;
    q = json_object_array_get_idx(all, n - 1 - from_last);
    if (header) {
        if (!json_object_object_get_ex(q, "headers", &hd) || !json_object_object_get_ex(hd, header, &v))
            goto out;
    } else if (!json_object_object_get_ex(q, field, &v)) {
        goto out;
    }
    snprintf(out, outlen, "%s", json_object_get_string(v));
    rc = 0;
out:
    json_object_put(all);
    return rc;
}

__attribute__((unused)) static long rx_state_int(const struct rx *r, const char *key)
{
    json_object *s = rx_admin(r, "state", NULL), *v;
    long x = -1;
    if (s && json_object_object_get_ex(s, key, &v))
        x = (long)json_object_get_int64(v);
    if (s)
        json_object_put(s);
    return x;
}

__attribute__((unused)) static long rx_requests(const struct rx *r)
{
    json_object *all = rx_admin(r, "requests", NULL);
    long n = all ? (long)json_object_array_length(all) : -1;
    if (all)
        json_object_put(all);
    return n;
}

#endif
