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
