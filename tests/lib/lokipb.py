"""The one Loki PushRequest protobuf encoder for the tests and the bench (the inverse of the
receiver's decoder, tests/receivers/loki.py; the C side's decoder is tests/lib/lokipb.c).
Only the standard library and python3-snappy (Debian)."""
import snappy

NS = 1_000_000_000


def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(num, payload):
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def encode_push(streams):
    """streams: [(label string, [(ts_ns, line[, {structured metadata}])])] -> the raw snappy
    block of a PushRequest holding them, as Loki's push API takes it."""
    req = b""
    for labels, entries in streams:
        sa = _len_field(1, labels.encode())
        for e in entries:
            ts, line = e[0], e[1]
            tsm = _varint(1 << 3 | 0) + _varint(ts // NS) + _varint(2 << 3 | 0) + _varint(ts % NS)
            ea = _len_field(1, tsm) + _len_field(2, line.encode())
            for k, v in (e[2] if len(e) > 2 else {}).items():
                ea += _len_field(3, _len_field(1, k.encode()) + _len_field(2, v.encode()))
            sa += _len_field(2, ea)
        req += _len_field(1, sa)
    return snappy.compress(req)
