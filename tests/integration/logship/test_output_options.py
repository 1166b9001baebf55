"""Per-output-kind auth options (Loki never sees the Elasticsearch password) and logship/OPTIONS.md
being generated from the option table, checked against the real binary and real HTTP receivers."""
import base64
import json
import os
import subprocess

import pytest

from logship_harness import REPO, write_lines
from receivers.elasticsearch import ElasticsearchReceiver

N = 20


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


@pytest.fixture
def es():
    r = ElasticsearchReceiver(users={"esu": "espw"})
    r.start()
    yield r
    r.stop()


def es_url(r):
    return "http://127.0.0.1:%d" % r.port


def ship(make_logship, tmp_path, loki, es, args):
    """Run logship from a file to both receivers until both have all N lines."""
    src = str(tmp_path / "app.log")
    write_lines(src, 0, N)
    ls = make_logship(["--loki", loki.url, "--elasticsearch", es_url(es)], ["--source", src] + args)
    ls.wait_metric("logship_output_entries_total", lambda v: v >= N, output="loki")
    ls.wait_metric("logship_output_entries_total", lambda v: v >= N, output="elasticsearch")
    assert ls.stop() == 0
    assert loki.count() == N
    assert es.count("*") == N
    loki_auth = {(r["headers"].get("Authorization") or r["headers"].get("authorization"))
                 for r in loki.requests()}
    es_auth = {r["headers"].get("authorization") for r in es.requests()}
    return loki_auth, es_auth


def test_es_credentials_go_to_es_only(make_logship, tmp_path, loki, es, monkeypatch):
    """--es-username (flag) + LOGSHIP_ES_PASSWORD (env): ES gets them, Loki gets no Authorization."""
    monkeypatch.setenv("LOGSHIP_ES_PASSWORD", "espw")
    loki_auth, es_auth = ship(make_logship, tmp_path, loki, es, ["--es-username", "esu"])
    assert loki_auth == {None}
    assert es_auth == {basic("esu", "espw")}


def test_loki_own_credentials_beat_shared(make_logship, tmp_path, loki, es):
    """Shared --username/--password reach ES; Loki's own (from the config file) replace them for Loki."""
    cfg = tmp_path / "logship.json"
    cfg.write_text(json.dumps({"loki-username": "lu", "loki-password": "lp"}))
    loki_auth, es_auth = ship(make_logship, tmp_path, loki, es,
                              ["--config", str(cfg), "--username", "esu", "--password", "espw"])
    assert loki_auth == {basic("lu", "lp")}
    assert es_auth == {basic("esu", "espw")}


def test_loki_opts_out_of_shared_credentials(make_logship, tmp_path, loki, es):
    """--loki-username "" : no credentials for Loki, the shared ones still go to ES."""
    loki_auth, es_auth = ship(make_logship, tmp_path, loki, es,
                              ["--username", "esu", "--password", "espw", "--loki-username", ""])
    assert loki_auth == {None}
    assert es_auth == {basic("esu", "espw")}


def test_shared_credentials_alone_go_everywhere(make_logship, tmp_path, loki, es):
    """Backward compatible: without per-kind options every output gets the shared credentials."""
    loki_auth, es_auth = ship(make_logship, tmp_path, loki, es, ["--username", "esu", "--password", "espw"])
    assert loki_auth == {basic("esu", "espw")}
    assert es_auth == {basic("esu", "espw")}


def test_half_a_per_kind_pair_is_a_config_error(logship_bin, tmp_path):
    r = subprocess.run([logship_bin, "--source", str(tmp_path / "x.log"), "--elasticsearch",
                        "http://127.0.0.1:9", "--password", "p", "--username", "u", "--es-username", "e",
                        "--spool-dir", str(tmp_path / "spool"), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "--es-username and --es-password go together" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_options_md_matches_the_option_table(logship_bin):
    """logship/OPTIONS.md is generated from the same table as --help; stale → regenerate."""
    r = subprocess.run([logship_bin, "--help-markdown"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    assert "`--es-api-key KEY` | `LOGSHIP_ES_API_KEY`" in r.stdout
    with open(os.path.join(REPO, "logship", "OPTIONS.md")) as f:
        doc = f.read()
    assert r.stdout.strip() in doc, "regenerate: build/logship --help-markdown (see logship/OPTIONS.md)"
    h = subprocess.run([logship_bin, "--help"], capture_output=True, text=True, timeout=30)
    assert h.returncode == 0
    for name in ("--loki-username", "--es-password", "--logstash-ca-file", "--help-markdown"):
        assert name in h.stdout


# --- secrets (issue 9) -------------------------------------------------------------------

def run_check(logship_bin, tmp_path, args):
    """logship --check-config with args; returns the CompletedProcess."""
    return subprocess.run([logship_bin, "--source", str(tmp_path / "x.log"), "--spool-dir",
                           str(tmp_path / "spool"), "--check-config"] + args,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("opt", ["--api-key", "--es-api-key", "--es-password", "--tenant", "--username"])
def test_crlf_in_a_header_option_is_refused_without_echoing_it(logship_bin, tmp_path, opt):
    """CR/LF in anything that becomes a header would inject headers: exit 2 naming the option only."""
    r = run_check(logship_bin, tmp_path, ["--elasticsearch", "http://127.0.0.1:9", "--es-username", "u",
                                          opt, "S3CR3T\r\nX-Injected: 1"])
    assert r.returncode == 2
    assert opt in r.stderr
    assert "S3CR3T" not in r.stderr and "X-Injected" not in r.stderr


def test_value_and_file_for_one_credential_is_an_error(logship_bin, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("espw\n")
    r = run_check(logship_bin, tmp_path, ["--elasticsearch", "http://127.0.0.1:9", "--es-username", "esu",
                                          "--es-password", "espw", "--es-password-file", str(pw)])
    assert r.returncode == 2
    assert "--es-password and --es-password-file: give one, not both" in r.stderr
    assert "espw" not in r.stderr


def test_crlf_in_a_password_file_at_start_is_refused(logship_bin, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("S3CR3T\r\nX-Injected: 1\n")
    r = run_check(logship_bin, tmp_path, ["--elasticsearch", "http://127.0.0.1:9", "--es-username", "esu",
                                          "--es-password-file", str(pw)])
    assert r.returncode == 2
    assert str(pw) in r.stderr and "control character" in r.stderr
    assert "S3CR3T" not in r.stderr


def test_url_credentials_are_redacted_in_errors_and_logs(logship_bin, make_logship, tmp_path, loki):
    """A URL's user:pass never reaches stderr: not in a bad-URL error, not in the send-failure
    logs of an output that cannot connect, not in /metrics."""
    r = run_check(logship_bin, tmp_path, ["--loki", "gopher://bob:hunter2@127.0.0.1:9/x"])
    assert r.returncode == 2
    assert "gopher://REDACTED@127.0.0.1:9/x" in r.stderr
    assert "hunter2" not in r.stderr and "bob" not in r.stderr
    r = run_check(logship_bin, tmp_path, ["--logstash", "beats://bob:hunter2@nohostport"])
    assert r.returncode == 2
    assert "REDACTED" in r.stderr and "hunter2" not in r.stderr
    src = str(tmp_path / "app.log")
    write_lines(src, 0, 3)
    ls = make_logship(["--loki", "http://bob:hunter2@127.0.0.1:9"], ["--source", src])
    ls.wait_metric("logship_output_retries_total", 2, output="loki")
    metrics = __import__("requests").get(ls.url("/metrics"), timeout=5).text
    assert ls.stop() == 0
    assert "send failed" in ls.log()
    assert "hunter2" not in ls.log() and "hunter2" not in metrics


def test_es_password_file_is_used_reread_and_guarded(make_logship, tmp_path, loki, es):
    """--es-password-file: sent as basic auth; a changed file is used for the next request; a file
    rewritten with CR/LF is refused (logged) and the previous password stays in use; the start
    line names the secret, never its value."""
    pw = tmp_path / "es.pw"
    pw.write_text("espw\n")
    src = str(tmp_path / "app.log")
    write_lines(src, 0, N)
    ls = make_logship(["--elasticsearch", es_url(es)],
                      ["--source", src, "--es-username", "esu", "--es-password-file", str(pw)])
    ls.wait_metric("logship_output_entries_total", N, output="elasticsearch")
    assert {r["headers"].get("authorization") for r in es.requests()} == {basic("esu", "espw")}

    pw.write_text("espw2-rotated\n")
    es.users["esu"] = "espw2-rotated"
    write_lines(src, N, N)
    ls.wait_metric("logship_output_entries_total", 2 * N, output="elasticsearch")
    assert es.requests()[-1]["headers"].get("authorization") == basic("esu", "espw2-rotated")

    pw.write_text("evil\r\nX-Injected: 1\n")
    write_lines(src, 2 * N, N)
    ls.wait_metric("logship_output_entries_total", 3 * N, output="elasticsearch")
    last = es.requests()[-1]["headers"]
    assert last.get("authorization") == basic("esu", "espw2-rotated")
    assert not any("x-injected" in {k.lower() for k in r["headers"]} for r in es.requests())
    assert ls.stop() == 0
    assert es.count("*") == 3 * N
    log = ls.log()
    assert "cannot re-read a credential file" in log
    started = [json.loads(line) for line in log.splitlines() if '"msg":"started"' in line]
    assert started and started[0]["secrets"] == ["es-password-file"]
    for secret in ("espw", "evil"):
        assert secret not in log.replace(str(pw), "")
