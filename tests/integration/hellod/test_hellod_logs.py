"""hellod's JSON logs: fields, one line per request under concurrency, --log-file and its reopen, --log-level."""
import json
import os
import signal
import threading

from hellodlib import check_access_line, free_port, wait_for


def test_every_line_is_json_with_the_fields(hellod):
    hellod.get("/helloworld", headers={"User-Agent": "probe/1.0"})
    hellod.get("/nope")
    hellod.get("/helloworld", method="DELETE")
    lines = wait_for(lambda: len(hellod.access()) >= 3 and hellod.lines(), 5)
    assert lines
    for l in lines:  # lines() already failed on any non-JSON line
        assert {"ts", "level", "service", "msg"} <= set(l), l
        assert l["service"] == "hellod"
    acc = hellod.access()
    for l in acc:
        check_access_line(l)
    first = acc[0]
    assert first["method"] == "GET" and first["path"] == "/helloworld"
    assert first["status"] == 200 and first["bytes"] == 25
    assert first["user_agent"] == "probe/1.0" and first["tls"] is True
    assert first["remote"] == "127.0.0.1" and first["level"] == "info"
    assert [l["status"] for l in acc] == [200, 404, 405]


def test_200_concurrent_requests_200_whole_lines(hellod):
    n, workers = 200, 20
    ua = "concurrency-" + "x" * 1000  # long lines (near PIPE_BUF with the rest) would show interleaving
    errors = []

    def worker(k):
        c = hellod.conn()
        try:
            for i in range(k, n, workers):
                c.request("GET", "/helloworld", headers={"X-Request-Id": f"req-{i}", "User-Agent": ua})
                r = c.getresponse()
                if r.status != 200 or r.read() != b'{"message":"Hello World"}':
                    errors.append(i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
    got = wait_for(lambda: len([l for l in hellod.access() if l["request_id"].startswith("req-")]) >= n, 10)
    assert got
    acc = [l for l in hellod.access() if l["request_id"].startswith("req-")]
    assert len(acc) == n
    assert sorted(l["request_id"] for l in acc) == sorted(f"req-{i}" for i in range(n))
    assert all(l["user_agent"] == ua for l in acc)
    # and nothing else in the file is broken: lines() parsed every line strictly


def test_log_file_gets_the_same_lines_and_is_reopened_on_sighup(hellod_factory, tmp_path):
    path = tmp_path / "hellod.log"
    h = hellod_factory("--log-file", str(path))
    h.get("/helloworld", headers={"X-Request-Id": "before-rotate"})
    h.wait_log("request", request_id="before-rotate")
    file_lines = [json.loads(l) for l in path.read_text().splitlines()]
    assert [l for l in file_lines if l.get("request_id") == "before-rotate"]
    # logrotate: move the file away, SIGHUP, new lines go to a new file
    rotated = tmp_path / "hellod.log.1"
    os.rename(path, rotated)
    h.signal(signal.SIGHUP)
    h.wait_log("log file reopened")
    h.get("/helloworld", headers={"X-Request-Id": "after-rotate"})
    h.wait_log("request", request_id="after-rotate")
    assert wait_for(lambda: path.exists() and "after-rotate" in path.read_text(), 5)
    assert "after-rotate" not in rotated.read_text()
    assert "before-rotate" in rotated.read_text()
    for l in path.read_text().splitlines():
        json.loads(l)


def test_log_level_filters(hellod_factory):
    h = hellod_factory("--log-level", "warn", "--tls-port", str(free_port()))
    h.get("/helloworld")
    h.get("/helloworld")
    assert h.stop() == 0
    lines = h.lines()
    assert lines, "the warning about the self-signed certificate is still logged"
    assert all(l["level"] in ("warn", "error") for l in lines), lines
    assert not [l for l in lines if l["msg"] == "request"]


def test_unwritable_log_file_is_a_config_error(hellod_factory, tmp_path):
    import subprocess
    from hellodlib import HELLOD
    r = subprocess.run([HELLOD, "--log-file", str(tmp_path / "no" / "such" / "dir.log"),
                        "--state-dir", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
