"""The spool's recovery with the real binary: exact resume after kill -9 (a line that reached the
spool is never read from its file again, the first second included), damaged segment bytes that
cost only the records they hit, and garbage state files recovered with a log line."""
import json
import os
import threading
import time

from logship_harness import json_line, metric_sum, write_lines
from lib.logshipproc import LogshipProcess

MAGIC = b"\xf5LS2"
BATCH = 64 * 1024


def start(logship_bin, tmp_path, loki, *extra):
    """logship with the default 1 s fsync/commit interval (the first-second trap is real)."""
    args = ["--batch-wait", "50ms", "--batch-bytes", str(BATCH), "--retry-initial-backoff", "100ms",
            "--retry-max-backoff", "1s", "--shutdown-timeout", "10s", "--loki", loki.url] + list(extra)
    return LogshipProcess(logship_bin, str(tmp_path), args, ready="/healthz", ready_timeout=20).start()


def cursor_seq(tmp_path):
    with open(os.path.join(str(tmp_path), "spool", "cursor-loki.json")) as f:
        return json.load(f)["seq"]


def test_kill9_exact_resume_reads_nothing_twice(loki, logship_bin, tmp_path):
    path = str(tmp_path / "app.log")
    open(path, "w").close()
    total, chunk = 20_000, 100
    written = [0]

    def writer():
        while written[0] < total:
            write_lines(path, written[0], chunk)
            written[0] += chunk
            time.sleep(0.04)                          # about 2,500 lines/s

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    # Kill moments after each start: several within the first second (before the first
    # positions.json commit), some later.
    kills = 0
    for delay in (0.3, 0.6, 1.6, 0.2, 2.5, 0.8):
        ls = start(logship_bin, tmp_path, loki, "--source", path)
        time.sleep(delay)
        ls.kill9()
        kills += 1
    t.join()
    ls = start(logship_bin, tmp_path, loki, "--source", path)
    got = loki.wait_count(total, timeout=120)
    assert got == total, "stored %d of %d: %s" % (got, total, ls.stderr_tail())
    assert ls.stop() == 0
    lines = loki.lines()
    assert len(set(lines)) == total == len(lines)
    # Every spooled record got a seq and the final cursor is one past the last: the number
    # of lines read from the file more than once is exact.
    appended = cursor_seq(tmp_path) - 1
    reread = appended - total
    dups = loki.stats()["duplicates"]
    print("kills", kills, "appended", appended, "reread", reread, "push duplicates", dups)
    assert reread == 0, "lines read twice from the file: %d" % reread
    # Only batches in flight at a kill may be pushed again (at most one batch per kill).
    per_batch = BATCH // len(json_line(0, 0)) + 1
    assert dups <= kills * per_batch, (dups, kills)
    assert "resuming after the last line already in the spool" in ls.log()


def records(seg_bytes):
    """(offset, length) of each record in a segment's bytes (format 2)."""
    out, pos = [], 0
    while pos + 12 <= len(seg_bytes):
        assert seg_bytes[pos:pos + 4] == MAGIC, pos
        n = 12 + int.from_bytes(seg_bytes[pos + 4:pos + 8], "little")
        out.append((pos, n))
        pos += n
    return out


def test_flipped_bytes_cost_only_their_records(loki, logship_bin, tmp_path):
    loki.set_down(True)
    path = str(tmp_path / "app.log")
    n = 20_000
    write_lines(path, 0, n, mode="w")
    ls = start(logship_bin, tmp_path, loki, "--source", path, "--spool-max-bytes", "16MiB")
    ls.wait_metric("logship_spool_records", lambda v: v >= n, timeout=60)
    time.sleep(1.5)                                   # positions committed (not needed, but usual)
    ls.kill9()
    spool = os.path.join(str(tmp_path), "spool")
    segs = sorted(f for f in os.listdir(spool) if f.startswith("seg-"))
    assert len(segs) >= 2, segs
    # Damage: a header byte in the first segment, a body byte in the middle of the newest
    # segment (the one the old format lost everything after), and a line byte in another.
    damaged, bad_bytes = [], 0
    plan = [(segs[0], 10, 2), (segs[-1], None, 60), (segs[len(segs) // 2], 500, 80)]
    for name, idx, byte in plan:
        fp = os.path.join(spool, name)
        data = bytearray(open(fp, "rb").read())
        recs = records(data)
        idx = len(recs) // 2 if idx is None else idx
        off, length = recs[idx]
        body = data[off + 12:off + length]
        origin_line = body[40:]
        damaged.append((name, idx, bytes(origin_line)))
        data[off + byte] ^= 0x40
        bad_bytes += length
        open(fp, "wb").write(bytes(data))
    loki.set_down(False)
    ls = start(logship_bin, tmp_path, loki, "--source", path)
    want = n - len(plan)
    got = loki.wait_count(want, timeout=60)
    assert got == want, "stored %d of %d: %s" % (got, want, ls.stderr_tail())
    ls.wait_metric("logship_spool_dropped_total", lambda v: v >= len(plan), reason="corrupt")
    time.sleep(0.5)
    m = ls.metrics()
    assert metric_sum(m, "logship_spool_dropped_total", reason="corrupt") == len(plan)
    assert metric_sum(m, "logship_spool_corrupt_bytes_total") == bad_bytes
    assert ls.stop() == 0
    stored = {json.loads(x)["i"] for x in loki.lines()}
    missing = set(range(n)) - stored
    assert len(missing) == len(plan), sorted(missing)[:20]
    for name, idx, raw in damaged:                    # exactly the damaged records are gone
        assert any(b'"i":%d,' % i in raw for i in missing), (name, idx)
    log = ls.log()
    assert log.count("spool: corrupt bytes in a segment") == len(plan)
    assert '"offset"' in log and '"segment"' in log


def test_garbage_cursor_and_positions_recovered(loki, logship_bin, tmp_path):
    path = str(tmp_path / "app.log")
    n = 3000
    write_lines(path, 0, n, mode="w")
    ls = start(logship_bin, tmp_path, loki, "--source", path)
    assert loki.wait_count(n, timeout=60) == n
    assert ls.stop() == 0
    spool = os.path.join(str(tmp_path), "spool")
    for name in ("cursor-loki.json", "positions.json"):
        with open(os.path.join(spool, name), "w") as f:
            f.write('{"seq": 12, "files": [{"dev": ')
    write_lines(path, n, 100)
    ls = start(logship_bin, tmp_path, loki, "--source", path)
    assert loki.wait_count(n + 100, timeout=60) == n + 100, ls.stderr_tail()
    ls.wait_metric("logship_spool_recoveries_total", 1, kind="cursor_garbage")
    assert ls.metric("logship_source_positions_corrupt_total") == 1
    assert ls.stop() == 0
    log = ls.log()
    assert "unreadable cursor, starting at the oldest record" in log
    assert "file positions are corrupt" in log
    # positions.json was garbage, but the spool's marks say where the file's lines stop:
    # only the 100 new lines were read (the resent spool records are receiver duplicates).
    assert cursor_seq(tmp_path) - 1 == n + 100
    assert len(set(loki.lines())) == n + 100


def docker_records(first, n, t0):
    """n docker json-file records numbered from first; every 50th is a 40 KB line in 16 KB parts."""
    out = []
    for i in range(first, first + n):
        text = json.dumps({"i": i, "msg": ("y" * 40000) if i % 50 == 0 else "short"})
        parts = [text[k:k + 16384] for k in range(0, len(text), 16384)]
        for k, p in enumerate(parts):
            out.append(json.dumps({"log": p + ("\n" if k == len(parts) - 1 else ""), "stream": "stdout",
                                   "time": "2026-11-29T10:00:00.%09dZ" % (i % 10**9)}) + "\n")
    return out


def test_docker_parts_resume_exactly(loki, logship_bin, tmp_path):
    path = str(tmp_path / "c0ffee-json.log")
    with open(path, "w") as f:
        f.writelines(docker_records(0, 1000, 0))
    args = ["--source", path, "--format", "docker", "--spool-fsync-interval", "30s"]
    ls = start(logship_bin, tmp_path, loki, *args)
    ls.wait_metric("logship_spool_records", lambda v: v >= 1000, timeout=60)
    ls.kill9()                                        # long before the first positions.json commit
    assert not os.path.exists(os.path.join(str(tmp_path), "spool", "positions.json"))
    with open(path, "a") as f:
        f.writelines(docker_records(1000, 300, 0))
    ls = start(logship_bin, tmp_path, loki, *args)
    assert loki.wait_count(1300, timeout=60) == 1300, ls.stderr_tail()
    assert ls.stop() == 0
    assert cursor_seq(tmp_path) - 1 == 1300          # no joined line was spooled twice
    got = sorted(json.loads(x)["i"] for x in set(loki.lines()))
    assert got == list(range(1300))


def test_copytruncate_while_stopped_reads_the_new_content(loki, logship_bin, tmp_path):
    path = str(tmp_path / "app.log")
    write_lines(path, 0, 1000, mode="w")
    args = ["--source", path, "--spool-fsync-interval", "30s"]
    ls = start(logship_bin, tmp_path, loki, *args)
    ls.wait_metric("logship_spool_records", lambda v: v >= 1000, timeout=60)
    ls.kill9()
    # copytruncate: the content moves to app.log.1 (not followed), the same inode starts over,
    # and grows past the old spooled offsets: nothing of it may be skipped.
    with open(path) as f, open(path + ".1", "w") as g:
        g.write(f.read())
    os.truncate(path, 0)
    write_lines(path, 1000, 1500)
    ls = start(logship_bin, tmp_path, loki, *args)
    assert loki.wait_count(2500, timeout=60) == 2500, ls.stderr_tail()
    assert ls.stop() == 0
    assert cursor_seq(tmp_path) - 1 == 2500
    assert "resuming after the last line already in the spool" not in ls.log()


def test_in_flight_batch_is_marked_before_the_send(loki, logship_bin, tmp_path):
    path = str(tmp_path / "app.log")
    n = 500
    write_lines(path, 0, n, mode="w")
    loki.set_delay(2.0)                               # the first push hangs at the backend
    ls = start(logship_bin, tmp_path, loki, "--source", path, "--request-timeout", "30s")
    deadline = time.monotonic() + 20
    cur = {}
    while time.monotonic() < deadline and cur.get("sent", 0) == 0:
        time.sleep(0.05)
        try:
            with open(os.path.join(str(tmp_path), "spool", "cursor-loki.json")) as f:
                cur = json.load(f)
        except (OSError, ValueError):
            pass
    time.sleep(0.5)                                   # the mark is saved just before the send
    ls.kill9()                                        # with that batch in flight, unacknowledged
    assert cur.get("sent", 0) >= 1 and cur["seq"] == 1, cur
    in_flight = cur["sent"] - cur["seq"] + 1
    # The Loki output sends one push per stream (the lines have two levels), so the
    # backend holds the pushes that left before the kill: part of the batch, never more.
    time.sleep(2.5)                                   # let the delayed push(es) land
    stored = loki.count()
    print("in flight at the kill", in_flight, "stored by the backend", stored)
    assert 1 <= stored <= in_flight, (stored, in_flight)
    loki.set_delay(0)
    ls = start(logship_bin, tmp_path, loki, "--source", path)
    assert loki.wait_count(n, timeout=60) == n, ls.stderr_tail()
    # exactly the batch marked in flight was looked up; what the backend had is not sent again
    assert ls.metric_sum("logship_output_duplicates_total") == stored
    assert ls.stop() == 0
    assert loki.stats()["duplicates"] == 0
    assert cursor_seq(tmp_path) - 1 == n
