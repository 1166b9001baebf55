/* response: the one place the bytes of hellod's HTTP responses are laid out. */
#include "service/response.h"

#include <string.h>
#include <time.h>

const char *resp_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 421: return "Misdirected Request";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default:  return "Unknown";
    }
}

struct date_cache {
    time_t sec;
    char text[32];
};

static __thread struct date_cache tl_date;

const char *resp_date(char out[32])
{
    time_t now = time(NULL);

    if (now != tl_date.sec || tl_date.text[0] == '\0') {
        struct tm tm;
        if (!gmtime_r(&now, &tm) ||
            strftime(tl_date.text, sizeof(tl_date.text), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
            memcpy(tl_date.text, "Thu, 01 Jan 1970 00:00:00 GMT", 30);
        tl_date.sec = now;
    }
    memcpy(out, tl_date.text, sizeof(tl_date.text));
    return out;
}

int resp_build(buf_t *b, const struct resp_head *h, const char *body, size_t body_len,
               int head_only)
{
    char date[32];
    int rc = 0;

    rc |= buf_printf(b, "HTTP/1.1 %d %s\r\nDate: %s\r\n", h->status, resp_reason(h->status),
                     resp_date(date));
    if (h->content_type)
        rc |= buf_printf(b, "Content-Type: %s\r\n", h->content_type);
    rc |= buf_printf(b, "Content-Length: %zu\r\nX-Request-Id: %s\r\n"
                        "X-Content-Type-Options: nosniff\r\n",
                     body_len, h->request_id);
    if (h->hsts)
        rc |= buf_printf(b, "Strict-Transport-Security: %s\r\n", h->hsts);
    if (h->allow)
        rc |= buf_printf(b, "Allow: %s\r\n", h->allow);
    if (h->location)
        rc |= buf_printf(b, "Location: %s\r\n", h->location);
    if (h->conn_close)
        rc |= buf_adds(b, "Connection: close\r\n");
    else if (h->conn_keep_alive)
        rc |= buf_adds(b, "Connection: keep-alive\r\n");
    rc |= buf_adds(b, "\r\n");
    if (!head_only && body_len > 0)
        rc |= buf_add(b, body, body_len);
    return rc ? -1 : 0;
}
