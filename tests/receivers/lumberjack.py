#!/usr/bin/env python3
"""lumberjack: a Lumberjack v2 server standing in for Logstash's beats input (../../shared/docs/backends.md).

Frames ("2" + type, big-endian integers): W window(count), J json(seq, len,
payload), D legacy key/value data(seq, pairs), C compressed(len, zlib stream of
more frames); the server answers A ack(seq). As in logstash-input-beats, a
window is complete when `count` events have arrived, and then the server ACKs
the sequence number of the last one.

Failure modes, scriptable: set_ack_delay(s[, keepalive]) ACKs late (sending
ACK 0 keep-alives meanwhile when asked, like Logstash under back-pressure);
drop_before_ack(n) closes the connection of the next n complete windows
without an ACK; partial_then_drop(n) ACKs half of the next n windows and
then closes; set_no_ack(True) never ACKs; set_max_window(n[, mode]) caps the
window the server accepts, as a server with a small batch limit does: a
window announcing more than n events is read but refused, none of its events
kept or ACKed, and then the connection either stays open in silence (mode
'stall', the default: the client only learns it from its own ACK timeout) or
is closed (mode 'close'). Every event is recorded with its
sequence number, window and connection, and whether its window was ACKed.
Optional TLS (a server certificate, and client certificates when a CA is given).

Importable: from receivers.lumberjack import LumberjackReceiver
    r = LumberjackReceiver(); r.start(); r.port / r.url (beats://...); r.stop()
Runnable:   /usr/bin/python3 tests/receivers/lumberjack.py --host 127.0.0.1 --port 0
            [--admin-port 0] [--port-file F] [--cert C --key K [--client-ca CA]]
            The admin HTTP API (/_receiver/stats, /events, /records; POST
            /_receiver/{ack_delay,drop_before_ack,partial_then_drop,no_ack,max_window,reset})
            serves out-of-process tests.
"""
import argparse
import json
import os
import socketserver
import ssl
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_PAYLOAD = 64 << 20


class ProtocolError(Exception):
    pass


def decode_frames(data):
    """Decode whole frames from bytes: returns (frames, rest). Each frame is a
    tuple (type, fields...). Raises ProtocolError on garbage."""
    out = []
    off = 0
    n = len(data)
    while n - off >= 2:
        ver, typ = data[off], chr(data[off + 1])
        if ver not in (ord('1'), ord('2')):
            raise ProtocolError('bad version byte %r' % ver)
        if typ in 'WA':
            if n - off < 6:
                break
            (v,) = struct.unpack_from('>I', data, off + 2)
            out.append((typ, v))
            off += 6
        elif typ == 'J':
            if n - off < 10:
                break
            seq, ln = struct.unpack_from('>II', data, off + 2)
            if ln > MAX_PAYLOAD:
                raise ProtocolError('payload too large')
            if n - off - 10 < ln:
                break
            out.append(('J', seq, bytes(data[off + 10:off + 10 + ln])))
            off += 10 + ln
        elif typ == 'C':
            if n - off < 6:
                break
            (ln,) = struct.unpack_from('>I', data, off + 2)
            if ln > MAX_PAYLOAD:
                raise ProtocolError('payload too large')
            if n - off - 6 < ln:
                break
            out.append(('C', bytes(data[off + 6:off + 6 + ln])))
            off += 6 + ln
        elif typ == 'D':
            if n - off < 10:
                break
            seq, count = struct.unpack_from('>II', data, off + 2)
            p = off + 10
            kv = {}
            complete = True
            for _ in range(count):
                parts = []
                for _ in range(2):
                    if n - p < 4:
                        complete = False
                        break
                    (ln,) = struct.unpack_from('>I', data, p)
                    if ln > MAX_PAYLOAD:
                        raise ProtocolError('payload too large')
                    if n - p - 4 < ln:
                        complete = False
                        break
                    parts.append(bytes(data[p + 4:p + 4 + ln]).decode('utf-8', 'replace'))
                    p += 4 + ln
                if not complete:
                    break
                kv[parts[0]] = parts[1]
            if not complete:
                break
            out.append(('D', seq, kv))
            off = p
        else:
            raise ProtocolError('unknown frame type %r' % typ)
    return out, data[off:]


def encode_window(n):
    return b'2W' + struct.pack('>I', n)


def encode_json(seq, payload):
    return b'2J' + struct.pack('>II', seq, len(payload)) + payload


def encode_compressed(frames, level=3):
    z = zlib.compress(frames, level)
    return b'2C' + struct.pack('>I', len(z)) + z


def encode_ack(seq):
    return b'2A' + struct.pack('>I', seq)


class LumberjackReceiver:
    def __init__(self, host='127.0.0.1', port=0, certfile=None, keyfile=None, client_ca=None):
        self.host, self._want_port = host, port
        self.lock = threading.RLock()
        self.tls = None
        if certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
            if client_ca:
                ctx.load_verify_locations(client_ca)
                ctx.verify_mode = ssl.CERT_REQUIRED
            self.tls = ctx
        self.server = None
        self.reset()

    def reset(self):
        with self.lock:
            self._records = []        # dicts: seq, event, conn, window, acked
            self.windows = 0          # complete windows seen
            self.acks_sent = 0
            self.connections = 0
            self.drops = 0            # connections closed before an ACK
            self.errors = []
            self.ack_delay = 0.0
            self.keepalive = None
            self.drop_next = 0
            self.partial_next = 0
            self.no_ack = False
            self.max_window = None
            self.window_mode = 'stall'
            self.refused_windows = 0  # windows larger than max_window
            self.window_sizes = []    # every announced window size, in order

    # ---- scripting ----
    def set_ack_delay(self, seconds, keepalive=None):
        with self.lock:
            self.ack_delay, self.keepalive = float(seconds), keepalive

    def drop_before_ack(self, n=1):
        with self.lock:
            self.drop_next += int(n)

    def partial_then_drop(self, n=1):
        with self.lock:
            self.partial_next += int(n)

    def set_max_window(self, n, mode='stall'):
        """Refuse windows announcing more than n events (None: no cap)."""
        if mode not in ('stall', 'close'):
            raise ValueError(mode)
        with self.lock:
            self.max_window = None if n is None else int(n)
            self.window_mode = mode

    def set_no_ack(self, on=True):
        with self.lock:
            self.no_ack = bool(on)

    # ---- read-back ----
    def records(self):
        with self.lock:
            return list(self._records)

    def events(self):
        with self.lock:
            return [r['event'] for r in self._records]

    def count(self):
        with self.lock:
            return len(self._records)

    def stats(self):
        with self.lock:
            return {'events': len(self._records), 'windows': self.windows, 'acks': self.acks_sent,
                    'connections': self.connections, 'drops': self.drops,
                    'refused_windows': self.refused_windows,
                    'window_sizes': list(self.window_sizes), 'errors': list(self.errors)}

    # ---- lifecycle ----
    def start(self):
        rcv = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                sock = self.request
                if rcv.tls is not None:
                    try:
                        sock = rcv.tls.wrap_socket(sock, server_side=True)
                    except (ssl.SSLError, OSError) as e:
                        with rcv.lock:
                            rcv.errors.append('tls: %s' % e)
                        return
                rcv._serve(sock)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
        self.server = Server((self.host, self._want_port), Handler)
        self.port = self.server.server_address[1]
        self.url = '%s://%s:%d' % ('beats+tls' if self.tls else 'beats', self.host, self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    # ---- protocol ----
    def _serve(self, sock):
        with self.lock:
            self.connections += 1
            conn_id = self.connections
        buf = b''
        state = {'window': None, 'got': 0, 'last_seq': 0, 'pending': []}
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
                frames, buf = decode_frames(buf)
                for f in frames:
                    if not self._frame(sock, conn_id, state, f):
                        return
        except (ProtocolError, zlib.error, ValueError) as e:
            with self.lock:
                self.errors.append('conn %d: %s' % (conn_id, e))
        except OSError:
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _frame(self, sock, conn_id, state, f):
        """Handle one frame; False closes the connection."""
        typ = f[0]
        if typ == 'W':
            with self.lock:
                self.window_sizes.append(f[1])
                refuse = self.max_window is not None and f[1] > self.max_window
                if refuse:
                    self.refused_windows += 1
            state.update(window=f[1], got=0, pending=[], refused=refuse)
            return True
        if typ == 'C':
            inner, rest = decode_frames(zlib.decompress(f[1]))
            if rest:
                raise ProtocolError('partial frame inside a compressed frame')
            for g in inner:
                if not self._frame(sock, conn_id, state, g):
                    return False
            return True
        if typ in 'JD' and state.get('refused'):
            state['got'] += 1    # read and thrown away: this window is over the cap
            if state['window'] is not None and state['got'] >= state['window']:
                state.update(window=None, got=0, pending=[], refused=False)
                with self.lock:
                    mode = self.window_mode
                return mode != 'close'
            return True
        if typ in 'JD':
            seq = f[1]
            if typ == 'J':
                try:
                    event = json.loads(f[2])
                except ValueError:
                    event = {'message': f[2].decode('utf-8', 'replace'), 'tags': ['_jsonparsefailure']}
            else:
                event = f[2]
            rec = {'seq': seq, 'event': event, 'conn': conn_id, 'window': None, 'acked': False}
            with self.lock:
                self._records.append(rec)
            state['pending'].append(rec)
            state['got'] += 1
            state['last_seq'] = seq
            if state['window'] is not None and state['got'] >= state['window']:
                return self._window_done(sock, state)
            return True
        raise ProtocolError('unexpected frame %r from a client' % typ)

    def _window_done(self, sock, state):
        with self.lock:
            self.windows += 1
            wno = self.windows
            for r in state['pending']:
                r['window'] = wno
            drop = partial = False
            if self.drop_next > 0:
                self.drop_next -= 1
                drop = True
            elif self.partial_next > 0:
                self.partial_next -= 1
                partial = True
            no_ack, delay, keepalive = self.no_ack, self.ack_delay, self.keepalive
        pending = state['pending']
        state.update(window=None, got=0, pending=[])
        if drop:
            with self.lock:
                self.drops += 1
            return False
        if partial:
            half = len(pending) // 2
            if half:
                sock.sendall(encode_ack(pending[half - 1]['seq']))
                with self.lock:
                    self.acks_sent += 1
                    for r in pending[:half]:
                        r['acked'] = True
            with self.lock:
                self.drops += 1
            return False
        if no_ack:
            return True
        end = time.monotonic() + delay
        while time.monotonic() < end:
            step = min(keepalive or delay, end - time.monotonic())
            time.sleep(max(step, 0))
            if keepalive and time.monotonic() < end:
                sock.sendall(encode_ack(0))
        sock.sendall(encode_ack(state['last_seq']))
        with self.lock:
            self.acks_sent += 1
            for r in pending:
                r['acked'] = True
        return True


class _Admin(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    receiver = None

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        r = self.receiver
        what = self.path.split('?')[0]
        if what == '/_receiver/stats':
            return self._send(200, r.stats())
        if what == '/_receiver/events':
            return self._send(200, r.events())
        if what == '/_receiver/records':
            return self._send(200, r.records())
        return self._send(404, {'error': 'unknown'})

    def do_POST(self):
        r = self.receiver
        n = int(self.headers.get('Content-Length') or 0)
        try:
            arg = json.loads(self.rfile.read(n) or b'{}')
        except ValueError:
            return self._send(400, {'error': 'body must be JSON'})
        what = self.path.split('?')[0]
        if what == '/_receiver/ack_delay':
            r.set_ack_delay(arg.get('seconds', 0), arg.get('keepalive'))
        elif what == '/_receiver/drop_before_ack':
            r.drop_before_ack(arg.get('n', 1))
        elif what == '/_receiver/partial_then_drop':
            r.partial_then_drop(arg.get('n', 1))
        elif what == '/_receiver/no_ack':
            r.set_no_ack(arg.get('on', True))
        elif what == '/_receiver/max_window':
            try:
                r.set_max_window(arg.get('n'), arg.get('mode', 'stall'))
            except ValueError:
                return self._send(400, {'error': 'mode is stall or close'})
        elif what == '/_receiver/reset':
            r.reset()
        else:
            return self._send(404, {'error': 'unknown'})
        return self._send(200, {'ok': True})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--admin-port', type=int)
    ap.add_argument('--port-file')
    ap.add_argument('--cert')
    ap.add_argument('--key')
    ap.add_argument('--client-ca')
    a = ap.parse_args(argv)
    r = LumberjackReceiver(a.host, a.port, a.cert, a.key, a.client_ca).start()
    ports = [r.port]
    admin = None
    if a.admin_port is not None:
        class H(_Admin):
            receiver = r
        admin = ThreadingHTTPServer((a.host, a.admin_port), H)
        admin.daemon_threads = True
        threading.Thread(target=admin.serve_forever, daemon=True).start()
        ports.append(admin.server_address[1])
    print(*ports, flush=True)
    if a.port_file:
        with open(a.port_file + '.tmp', 'w') as f:
            f.write(' '.join(map(str, ports)) + '\n')
        os.replace(a.port_file + '.tmp', a.port_file)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    r.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
