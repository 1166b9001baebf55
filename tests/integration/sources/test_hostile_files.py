"""Hostile files in a followed directory (issue 9): symlinks to /proc, to files outside
the allowed roots, to FIFOs and devices, and FIFOs or directories named as --source.
Only regular files under the glob's directory or an --allow-root are shipped; every
refusal is logged once and counted in logship_input_refused_total{reason}."""
import json
import os
import subprocess
import time


def write_json_lines(path, tag, n):
    with open(path, "a") as f:
        for i in range(n):
            f.write(json.dumps({"level": "info", "tag": tag, "i": i}) + "\n")


def refused_lines(ls):
    out = []
    for line in ls.log().splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get("msg") == "file refused, not reading it":
            out.append(d)
    return out


def test_symlinks_and_special_files_in_a_followed_directory(run_logship, loki, tmp_path):
    logs = tmp_path / "logs"
    allowed = tmp_path / "pods"
    outside = tmp_path / "outside"
    for d in (logs, allowed, outside):
        d.mkdir()
    write_json_lines(logs / "plain.log", "plain", 5)
    # a legitimate link, as in /var/log/containers -> /var/log/pods: shipped
    write_json_lines(allowed / "0.log", "linked", 7)
    os.symlink(allowed / "0.log", logs / "pod.log")
    # hostile ones: nothing of these may be shipped
    (outside / "shadow").write_text("root:TOPSECRET:19000:0:99999:7:::\n")
    os.symlink(outside / "shadow", logs / "shadow.log")
    os.symlink("/proc/self/status", logs / "status.log")
    os.symlink("/proc/self/environ", logs / "environ.log")
    os.mkfifo(logs / "pipe.log")
    os.mkfifo(outside / "fifo")
    os.symlink(outside / "fifo", logs / "fifo-link.log")
    os.symlink("/dev/zero", logs / "zero.log")
    (logs / "subdir.log").mkdir()  # a directory a wildcard matches: skipped quietly

    ls = run_logship(["--source", str(logs / "*.log"), "--allow-root", str(allowed),
                      "--format", "json"])
    ls.wait_metric("logship_output_entries_total", 12, timeout=30)
    ls.wait_metric("logship_input_refused_total", 6, timeout=10)
    # several rescans (1 s each) later the same files are neither re-counted nor re-logged
    time.sleep(3.5)
    assert ls.metric("logship_input_refused_total", reason="pseudo_fs") == 2
    assert ls.metric("logship_input_refused_total", reason="outside_root") == 1
    assert ls.metric("logship_input_refused_total", reason="special_file") == 3
    ref = refused_lines(ls)
    assert sorted(os.path.basename(d["path"]) for d in ref) == sorted(
        ["shadow.log", "status.log", "environ.log", "pipe.log", "fifo-link.log", "zero.log"]), ref
    assert ls.stop() == 0

    lines = [line for _, _, line in loki.entries()]
    tags = sorted(json.loads(line)["tag"] for line in lines)
    assert tags == ["linked"] * 7 + ["plain"] * 5, lines[:20]
    text = "\n".join(lines)
    assert "TOPSECRET" not in text
    assert "VmRSS" not in text and "PATH=" not in text


def test_outside_root_is_shipped_once_allowed(run_logship, loki, tmp_path):
    """The same out-of-directory link is followed when its target's directory is an --allow-root
    (through LOGSHIP_ALLOW_ROOT, as the list options take env), proving the refusal is the root rule."""
    logs = tmp_path / "logs"
    other = tmp_path / "other"
    logs.mkdir()
    other.mkdir()
    write_json_lines(other / "app.log", "other", 4)
    os.symlink(other / "app.log", logs / "app.log")
    os.environ["LOGSHIP_ALLOW_ROOT"] = str(other)
    try:
        ls = run_logship(["--source", str(logs / "*.log")])
    finally:
        del os.environ["LOGSHIP_ALLOW_ROOT"]
    ls.wait_metric("logship_output_entries_total", 4, timeout=30)
    assert ls.metric("logship_input_refused_total") == 0
    assert ls.stop() == 0
    assert loki.count() == 4


def _start_fails(logship_bin, tmp_path, source):
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    r = subprocess.run([logship_bin, "--source", str(source), "--loki", "http://127.0.0.1:9",
                        "--spool-dir", str(spool), "--metrics-addr", "none"],
                       capture_output=True, text=True, timeout=30)
    return r


def test_source_naming_a_fifo_or_a_directory_is_a_config_error(logship_bin, tmp_path):
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    r = _start_fails(logship_bin, tmp_path, fifo)
    assert r.returncode == 2, r.stderr
    assert "--source %s is a FIFO" % fifo in r.stderr
    d = tmp_path / "logdir"
    d.mkdir()
    r = _start_fails(logship_bin, tmp_path, d)
    assert r.returncode == 2, r.stderr
    assert "--source %s is a directory" % d in r.stderr
    r = _start_fails(logship_bin, tmp_path, "/proc/self/status")
    assert r.returncode == 2, r.stderr
    assert "pseudo filesystem" in r.stderr


def test_many_refused_files_are_each_counted_once(run_logship, loki, tmp_path):
    """300 FIFOs in a followed directory: 300 refusals, however many rescans pass."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(300):
        os.mkfifo(logs / ("p%03d.log" % i))
    write_json_lines(logs / "real.log", "real", 3)
    ls = run_logship(["--source", str(logs / "*.log")])
    ls.wait_metric("logship_output_entries_total", 3, timeout=30)
    ls.wait_metric("logship_input_refused_total", 300, timeout=10, reason="special_file")
    time.sleep(3.5)  # three more rescans
    assert ls.metric("logship_input_refused_total", reason="special_file") == 300
    assert len(refused_lines(ls)) == 300
    assert ls.stop() == 0
