#!/usr/bin/env python3
"""logstash: stand-ins for Logstash's http input and tcp json_lines input (../../shared/docs/backends.md).

http input (LogstashHttpReceiver): any path, POST/PUT; Content-Type
  application/json goes through the json codec (an array is one event per
  element, an object one event), anything else is one event {"message": body};
  Content-Encoding gzip is accepted. Answers 200 "ok" when accepted and 429
  when its queue is full (scripted: fail_next(n, 429) or set_queue_full(True)).
  Basic auth when a user is configured (401 otherwise). Admin under
  /_receiver/: GET stats, events, requests; POST fail_next {"n","status"},
  queue_full {"full"}, down {"down"}, delay {"seconds"}, reset.
tcp input (LogstashTcpReceiver): codec json_lines, one JSON object per line,
  no acknowledgement of any kind; a line that is not JSON becomes
  {"message": line, "tags": ["_jsonparsefailure"]}, as Logstash does.

Importable: from receivers.logstash import LogstashHttpReceiver, LogstashTcpReceiver
Runnable:   /usr/bin/python3 tests/receivers/logstash.py --host 127.0.0.1 --port 0 [--tcp-port 0]
            [--port-file F]  (prints the http port, then the tcp port)
"""
import argparse
import base64
import gzip
import json
import os
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LogstashHttpReceiver:
    def __init__(self, host='127.0.0.1', port=0, user=None, password=None):
        self.host, self._want_port = host, port
        self.user, self.password = user, password
        self.lock = threading.RLock()
        self.server = None
        self.reset()

    def start(self):
        rcv = self

        class Handler(_HttpHandler):
            receiver = rcv
        self.server = ThreadingHTTPServer((self.host, self._want_port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = 'http://%s:%d' % (self.host, self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def reset(self):
        with self.lock:
            self._events = []
            self._requests = []
            self.fail_queue = []
            self.queue_full = False
            self.down = False
            self.delay = 0.0

    def fail_next(self, n=1, status=429):
        with self.lock:
            self.fail_queue.extend([int(status)] * int(n))

    def set_queue_full(self, full=True):
        with self.lock:
            self.queue_full = bool(full)

    def set_down(self, down=True):
        with self.lock:
            self.down = bool(down)

    def set_delay(self, seconds):
        with self.lock:
            self.delay = float(seconds)

    def events(self):
        with self.lock:
            return list(self._events)

    def count(self):
        with self.lock:
            return len(self._events)

    def requests(self):
        with self.lock:
            return list(self._requests)

    def stats(self):
        with self.lock:
            st = {}
            for q in self._requests:
                st[str(q['status'])] = st.get(str(q['status']), 0) + 1
            return {'events': len(self._events), 'requests': len(self._requests), 'statuses': st}


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    receiver = None

    def setup(self):
        # headers and body are separate writes: avoid Nagle + delayed-ACK stalls
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body=b'', ctype='text/plain'):
        if isinstance(body, (dict, list)):
            body, ctype = json.dumps(body).encode(), 'application/json'
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        r = self.receiver
        if self.path.startswith('/_receiver/'):
            what = self.path[len('/_receiver/'):].split('?')[0]
            if what == 'stats':
                return self._send(200, r.stats())
            if what == 'events':
                return self._send(200, r.events())
            if what == 'requests':
                return self._send(200, r.requests())
        return self._send(200, b'ok')

    def do_PUT(self):
        self.do_POST()

    def do_POST(self):
        r = self.receiver
        n = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(n) if n else b''
        if self.path.startswith('/_receiver/'):
            return self._admin(self.path[len('/_receiver/'):], raw)
        with r.lock:
            down, delay = r.down, r.delay
        if down:
            self.close_connection = True
            return
        if delay:
            time.sleep(delay)
        entry = {'path': self.path, 'bytes': len(raw),
                 'headers': {k.lower(): v for k, v in self.headers.items()}}
        if r.user is not None:
            auth = self.headers.get('Authorization') or ''
            ok = False
            if auth.startswith('Basic '):
                try:
                    ok = base64.b64decode(auth[6:]).decode() == '%s:%s' % (r.user, r.password)
                except (ValueError, UnicodeDecodeError):
                    ok = False
            if not ok:
                entry['status'] = 401
                with r.lock:
                    r._requests.append(entry)
                return self._send(401, b'Unauthorized')
        with r.lock:
            forced = r.fail_queue.pop(0) if r.fail_queue else (429 if r.queue_full else None)
        if forced is not None:
            entry['status'] = forced
            with r.lock:
                r._requests.append(entry)
            return self._send(forced, b'Too Many Requests' if forced == 429 else b'error')
        try:
            if (self.headers.get('Content-Encoding') or '').lower() == 'gzip':
                raw = gzip.decompress(raw)
        except (OSError, EOFError):
            entry['status'] = 400
            with r.lock:
                r._requests.append(entry)
            return self._send(400, b'bad gzip')
        ctype = (self.headers.get('Content-Type') or '').split(';')[0].strip()
        if ctype == 'application/json':
            try:
                doc = json.loads(raw)
                evs = doc if isinstance(doc, list) else [doc]
            except ValueError:
                evs = [{'message': raw.decode('utf-8', 'replace'), 'tags': ['_jsonparsefailure']}]
        else:
            evs = [{'message': raw.decode('utf-8', 'replace')}]
        entry['status'] = 200
        entry['events'] = len(evs)
        with r.lock:
            r._events.extend(evs)
            r._requests.append(entry)
        return self._send(200, b'ok')

    def _admin(self, what, raw):
        r = self.receiver
        try:
            arg = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return self._send(400, {'error': 'body must be JSON'})
        if what == 'fail_next':
            r.fail_next(arg.get('n', 1), arg.get('status', 429))
        elif what == 'queue_full':
            r.set_queue_full(arg.get('full', True))
        elif what == 'down':
            r.set_down(arg.get('down', True))
        elif what == 'delay':
            r.set_delay(arg.get('seconds', 0))
        elif what == 'reset':
            r.reset()
        else:
            return self._send(404, {'error': 'unknown admin action'})
        return self._send(200, {'ok': True})


class LogstashTcpReceiver:
    """tcp input, codec json_lines: no acknowledgement."""

    def __init__(self, host='127.0.0.1', port=0):
        self.host, self._want_port = host, port
        self.lock = threading.Lock()
        self._events = []
        self.connections = 0
        self.server = None

    def start(self):
        rcv = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                with rcv.lock:
                    rcv.connections += 1
                for line in self.rfile:
                    line = line.rstrip(b'\r\n')
                    if not line:
                        continue
                    try:
                        ev = json.loads(line)
                        if not isinstance(ev, dict):
                            raise ValueError
                    except ValueError:
                        ev = {'message': line.decode('utf-8', 'replace'), 'tags': ['_jsonparsefailure']}
                    with rcv.lock:
                        rcv._events.append(ev)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
        self.server = Server((self.host, self._want_port), Handler)
        self.port = self.server.server_address[1]
        self.url = 'tcp://%s:%d' % (self.host, self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def events(self):
        with self.lock:
            return list(self._events)

    def count(self):
        with self.lock:
            return len(self._events)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--tcp-port', type=int)
    ap.add_argument('--port-file')
    ap.add_argument('--user', help='USER:PASSWORD for basic auth')
    a = ap.parse_args(argv)
    user, password = (a.user.split(':', 1) + [''])[:2] if a.user else (None, None)
    h = LogstashHttpReceiver(a.host, a.port, user, password).start()
    ports = [h.port]
    t = None
    if a.tcp_port is not None:
        t = LogstashTcpReceiver(a.host, a.tcp_port).start()
        ports.append(t.port)
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
    h.stop()
    if t:
        t.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
