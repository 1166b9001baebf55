/* test_logship_es_status: the Elasticsearch item and request status tables (es_status.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "logship/out/es_status.h"

static void expect_item(int status, const char *type, enum ls_verdict v, const char *reason)
{
    struct ls_es_status_class c = ls_es_status_item(status, type);
    assert_int_equal(c.verdict, v);
    assert_string_equal(c.reason, reason);
    if (v == LS_CONFIG) {
        assert_non_null(c.fix);
        assert_true(strlen(c.fix) > 10);
    } else {
        assert_null(c.fix);
    }
}

static void test_items_stored_and_duplicates(void **state)
{
    (void)state;
    expect_item(201, NULL, LS_DONE, "stored");
    expect_item(200, "", LS_DONE, "stored");
    expect_item(409, "version_conflict_engine_exception", LS_DONE, "duplicate");
    assert_int_equal(ls_es_status_item(409, NULL).duplicate, 1);
    assert_int_equal(ls_es_status_item(201, NULL).duplicate, 0);
}

static void test_items_cluster_errors_are_config(void **state)
{
    (void)state;
    expect_item(403, "security_exception", LS_CONFIG, "forbidden");
    expect_item(404, "index_not_found_exception", LS_CONFIG, "index_not_found");
    expect_item(403, "cluster_block_exception", LS_CONFIG, "index_blocked");
    /* the flood-stage disk block is a 429, but no retry schedule fixes a full disk */
    expect_item(429, "cluster_block_exception", LS_CONFIG, "index_blocked");
    expect_item(400, "index_closed_exception", LS_CONFIG, "index_closed");
    expect_item(400, "invalid_index_name_exception", LS_CONFIG, "invalid_index");
    /* the status alone is enough for 403 and 404 */
    expect_item(403, NULL, LS_CONFIG, "forbidden");
    expect_item(404, "something_new", LS_CONFIG, "index_not_found");
    assert_non_null(strstr(ls_es_status_item(403, "security_exception").fix, "create_doc"));
    assert_non_null(strstr(ls_es_status_item(404, "index_not_found_exception").fix, "auto_create_index"));
}

static void test_items_retry_and_drop(void **state)
{
    (void)state;
    expect_item(429, "es_rejected_execution_exception", LS_RETRY, "rate_limited");
    expect_item(503, "unavailable_shards_exception", LS_RETRY, "server_error");
    expect_item(0, NULL, LS_RETRY, "bad_response");      /* not in the response */
    /* the document's own faults: dead letter */
    expect_item(400, "mapper_parsing_exception", LS_DROP, "rejected");
    expect_item(400, "document_parsing_exception", LS_DROP, "rejected");
    expect_item(400, "illegal_argument_exception", LS_DROP, "rejected");
    expect_item(413, NULL, LS_DROP, "rejected");
}

static void expect_req(long status, enum ls_verdict v, const char *reason)
{
    struct ls_es_status_class c = ls_es_status_request(status);
    assert_int_equal(c.verdict, v);
    assert_string_equal(c.reason, reason);
    assert_true((c.fix != NULL) == (v == LS_CONFIG));
}

static void test_requests(void **state)
{
    (void)state;
    expect_req(200, LS_DONE, "stored");
    expect_req(0, LS_RETRY, "connection");
    expect_req(408, LS_RETRY, "timeout");
    expect_req(429, LS_RETRY, "rate_limited");
    expect_req(502, LS_RETRY, "server_error");
    expect_req(401, LS_CONFIG, "unauthorized");
    expect_req(403, LS_CONFIG, "forbidden");
    expect_req(404, LS_CONFIG, "not_found");
    expect_req(407, LS_CONFIG, "proxy_auth");
    expect_req(301, LS_CONFIG, "redirect");
    expect_req(400, LS_DROP, "rejected");
    expect_req(406, LS_DROP, "rejected");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_items_stored_and_duplicates),
        cmocka_unit_test(test_items_cluster_errors_are_config),
        cmocka_unit_test(test_items_retry_and_drop),
        cmocka_unit_test(test_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
