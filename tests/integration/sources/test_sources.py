"""Sources end to end: the real logship binary following files (rotation, truncation,
deletion, globs, restarts), docker json-file and stdin, shipping to the Loki stand-in.
Every line written must be delivered or counted as dropped in /metrics."""
import json
import os
import shutil
import time
from datetime import datetime, timezone


NS = 1_000_000_000


def rfc3339_ns(ns):
    dt = datetime.fromtimestamp(ns // NS, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % (ns % NS)


def json_line(seq, pad=60):
    return json.dumps({"ts": rfc3339_ns(time.time_ns()), "level": "info", "seq": seq,
                       "msg": "x" * pad}) + "\n"


def seqs_delivered(loki):
    out = []
    for _, _, line in loki.entries():
        try:
            out.append(json.loads(line)["seq"])
        except (ValueError, KeyError):
            pass
    return out


# --- rotation under load while Loki is down ----------------------------------------------
def test_rename_and_copytruncate_under_load_while_loki_down(run_logship, loki, tmp_path):
    log = tmp_path / "app.log"
    loki.set_down(True)
    ls = run_logship(["--source", str(log)])
    total_bytes = 0
    seq = 0
    renames = 0

    def write_block(f, n):
        nonlocal seq, total_bytes
        for _ in range(n):
            data = json_line(seq)
            f.write(data)
            total_bytes += len(data)
            seq += 1
            if seq % 500 == 0:
                f.flush()
                time.sleep(0.01)  # a steady stream, not one burst
        f.flush()

    f = open(log, "a")
    for round_ in range(3):
        write_block(f, 4000)
        # rename rotation: the writer keeps writing to the old file a little
        # (it has not reopened yet), then moves to a new file at the old name
        os.rename(log, str(log) + ".%d" % round_)
        renames += 1
        write_block(f, 300)
        f.close()
        f = open(log, "a")
        write_block(f, 4000)
        # copytruncate: copy, then truncate in place. logship must have read
        # the file before it is truncated (copytruncate's own race); the copy
        # is outside the glob.
        ls.wait_metric("logship_source_bytes_total", total_bytes, timeout=30)
        f.flush()
        shutil.copy(log, str(log) + ".copy%d" % round_)
        os.truncate(log, 0)
        f.seek(0)
        write_block(f, 200)
    f.close()
    n = seq
    ls.wait_metric("logship_source_bytes_total", total_bytes, timeout=60)
    assert loki.count() == 0
    loki.set_down(False)
    got = loki.wait_count(n, timeout=90)
    ls.assert_alive()
    delivered = seqs_delivered(loki)
    missing = sorted(set(range(n)) - set(delivered))
    assert not missing, "lost %d lines, first %s" % (len(missing), missing[:10])
    assert got == n
    assert ls.metric("logship_rotations_total", kind="truncate") >= 3
    assert ls.metric("logship_rotations_total", kind="rename") >= renames
    assert ls.metric("logship_source_lines_total") == n
    assert ls.stop() == 0


# --- hostile input ------------------------------------------------------------------------
def test_hostile_input_is_accounted_for(run_logship, loki, tmp_path):
    hostile = tmp_path / "hostile.log"
    doomed = tmp_path / "doomed.log"
    lines = []
    for i in range(100):
        lines.append(b"plain text line %d" % i)
    for i in range(50):
        lines.append(b"bad utf8 \xff\xfe\xc0 %d" % i)
    for i in range(50):
        lines.append(b"nul \x00 byte %d" % i)
    lines.append(b"{\"level\":\"warn\",\"msg\":\"not closed\"")
    lines.append(b"crlf line\r")
    lines.append(b"L" * (1 << 20))
    empties = 0
    with open(hostile, "wb") as f:
        for i, l in enumerate(lines):
            f.write(l + b"\n")
            if i % 10 == 0:
                f.write(b"\n")
                empties += 1
        f.write(b"\n" * (30 - empties))
    n_hostile = len(lines)

    ls = run_logship(["--source", str(tmp_path / "*.log")])
    # a file deleted while it is being read: logship keeps its descriptor and
    # reads what the writer still adds through its own open descriptor
    with open(doomed, "w") as f:
        for i in range(1000):
            f.write("doomed %d\n" % i)
        f.flush()
        ls.wait_metric("logship_source_lines_total", n_hostile + 30 + 1000, timeout=30)
        os.unlink(doomed)
        for i in range(1000, 2000):
            f.write("doomed %d\n" % i)
        f.write("doomed last, no newline")
    total = n_hostile + 2001
    got = loki.wait_count(total, timeout=60)
    ls.assert_alive()
    assert got == total, "delivered %d of %d" % (got, total)
    # accounting: lines read = delivered + empty lines dropped
    assert ls.metric("logship_input_dropped_total", reason="empty") == 30
    assert ls.metric("logship_source_lines_total") == total + 30
    assert ls.metric("logship_input_truncated_total") == 1
    assert ls.metric("logship_input_invalid_total", kind="encoding") == 100
    assert ls.metric("logship_rotations_total", kind="delete") >= 1
    stored = loki.lines()
    big = [l for l in stored if l.startswith("LLLL")]
    assert len(big) == 1
    assert len(big[0].encode()) <= 256 * 1024
    assert "[truncated " in big[0]
    assert "bad utf8 \ufffd\ufffd\ufffd 7" in stored
    assert "nul \ufffd byte 3" in stored
    assert "crlf line" in stored
    assert "{\"level\":\"warn\",\"msg\":\"not closed\"" in stored
    doomed_lines = {l for l in stored if l.startswith("doomed")}
    assert len(doomed_lines) == 2001
    assert "doomed last, no newline" in doomed_lines
    assert ls.stop() == 0


# --- docker json-file ---------------------------------------------------------------------
def test_docker_json_file_split_lines(run_logship, loki, tmp_path):
    log = tmp_path / "c0ffee-json.log"
    now = time.time_ns()
    big = "".join(chr(ord("a") + i % 26) for i in range(40000))
    big_json = json.dumps({"level": "error", "msg": big})
    recs = []

    def rec(text, stream, t):
        return json.dumps({"log": text, "stream": stream, "time": rfc3339_ns(t)}) + "\n"

    # the 40 KB line split at 16 KB, interleaved with stderr lines
    pieces = [big_json[i:i + 16384] for i in range(0, len(big_json), 16384)]
    for i, p in enumerate(pieces):
        last = i == len(pieces) - 1
        recs.append(rec(p + ("\n" if last else ""), "stdout", now + i))
        recs.append(rec("err %d\n" % i, "stderr", now + 100 + i))
    recs.append(rec("plain stdout\n", "stdout", now + 200))
    recs.append("this is not a docker record\n")
    with open(log, "w") as f:
        f.writelines(recs)
    ls = run_logship(["--source", str(log), "--format", "docker", "--label", "job=docker"])
    n = 1 + len(pieces) + 1 + 1
    assert loki.wait_count(n, timeout=30) == n
    by_line = {line: (labels, ts) for labels, ts, line in loki.entries()}
    labels, ts = by_line[big_json]
    assert labels == {"job": "docker", "level": "error", "stream": "stdout"}
    assert ts == now  # the first piece's docker time
    labels, ts = by_line["err 1"]
    assert labels == {"job": "docker", "stream": "stderr"}
    assert ts == now + 101
    assert by_line["plain stdout"][1] == now + 200
    assert "this is not a docker record" in by_line
    assert ls.metric("logship_input_invalid_total", kind="docker_record") == 1
    assert ls.stop() == 0


# --- restart ------------------------------------------------------------------------------
def test_restart_resumes_exactly(run_logship, loki, tmp_path):
    log = tmp_path / "app.log"
    with open(log, "w") as f:
        for i in range(5000):
            f.write(json_line(i))
        f.write(json_line(5000)[:-10])  # a partial last line
    ls = run_logship(["--source", str(log)])
    assert loki.wait_count(5000, timeout=30) == 5000
    time.sleep(0.3)
    assert loki.count() == 5000  # the partial line waits for its newline
    assert ls.stop() == 0
    assert os.path.exists(os.path.join(ls.spool, "positions.json"))
    with open(log, "a") as f:
        f.write(json_line(5000)[-10:])
        for i in range(5001, 8000):
            f.write(json_line(i))
    ls2 = run_logship(["--source", str(log)])
    assert loki.wait_count(8000, timeout=30) == 8000
    time.sleep(0.5)
    st = loki.stats()
    assert st["duplicates"] == 0, "re-sent %d entries after a clean restart" % st["duplicates"]
    assert st["entries_received"] == 8000
    assert sorted(seqs_delivered(loki)) == list(range(8000))
    assert ls2.stop() == 0


# --- globs ----------------------------------------------------------------------------------
def test_new_file_under_glob_is_picked_up(run_logship, loki, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    old = logs / "old.log"
    with open(old, "w") as f:
        f.write("old before start\n")
    ls = run_logship(["--source", str(logs / "*.log"), "--start-at", "tail", "--format", "raw"])
    time.sleep(0.5)
    with open(old, "a") as f:
        f.write("old after start\n")
    # a new file under the glob: read from its head (its first lines count)
    with open(logs / "new.log", "w") as f:
        f.write("new 1\nnew 2\n")
    with open(logs / "ignored.txt", "w") as f:
        f.write("not matched\n")
    assert loki.wait_count(3, timeout=15) == 3
    time.sleep(0.5)
    assert sorted(loki.lines()) == ["new 1", "new 2", "old after start"]
    assert ls.metric("logship_source_files_watched") == 2
    assert ls.stop() == 0


# --- stdin ----------------------------------------------------------------------------------
def test_stdin_pipe_to_eof(run_logship, loki, tmp_path):
    r, w = os.pipe()
    ls = run_logship(["--source", "-"], stdin=r)
    os.close(r)
    with os.fdopen(w, "w") as f:
        for i in range(2000):
            f.write(json_line(i))
        f.write("last line without newline")
    # EOF: logship ships everything, then exits on its own
    try:
        rc = ls.proc.wait(timeout=30)
    finally:
        ls.err.close()
    assert rc == 0, ls.stderr_tail()
    assert loki.count() == 2001
    assert "last line without newline" in loki.lines()


# --- rotation while logship is stopped ------------------------------------------------------
def test_rotation_while_stopped_loses_nothing(run_logship, loki, tmp_path):
    log = tmp_path / "app.log"
    with open(log, "w") as f:
        for i in range(1000):
            f.write(json_line(i))
    ls = run_logship(["--source", str(log), "--start-at", "tail"])
    with open(log, "a") as f:
        for i in range(1000, 2000):
            f.write(json_line(i))
    assert loki.wait_count(1000, timeout=30) == 1000
    assert ls.stop() == 0
    # while stopped: more lines, then a rename rotation and a new file
    with open(log, "a") as f:
        for i in range(2000, 3000):
            f.write(json_line(i))
    os.rename(log, str(log) + ".1")
    with open(log, "w") as f:
        for i in range(3000, 4000):
            f.write(json_line(i))
    ls2 = run_logship(["--source", str(log), "--start-at", "tail"])
    assert loki.wait_count(3000, timeout=30) == 3000
    time.sleep(0.5)
    assert sorted(seqs_delivered(loki)) == list(range(1000, 4000))
    assert loki.stats()["duplicates"] == 0
    assert ls2.stop() == 0
