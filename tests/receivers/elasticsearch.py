#!/usr/bin/env python3
"""elasticsearch: a stand-in for Elasticsearch's _bulk API, faithful to ../../shared/docs/backends.md.

Implements what logship relies on, with ES's own semantics:
  POST /_bulk and /<target>/_bulk: NDJSON (Content-Type application/x-ndjson or
    application/json, optionally Content-Encoding gzip) that must end with a
    newline; actions create / index / delete; HTTP 200 with per-item statuses in
    request order; 201 created, 409 version_conflict_engine_exception when a
    `create` hits an existing _id; data streams (targets matching logs-*-* by
    default, as ES's built-in template) accept only `create` and need @timestamp
    (else item 400); filter_path is honoured.
  Scripting: per-item statuses by rule (a field value, the Nth item received, a
    fraction of items drawn from a seeded RNG, a number of firings),
    whole-request failures (fail_next), 413 above a body size, a "down" mode
    that drops connections without an answer, a delay, and cluster
    conditions that refuse every item alike with a real cluster's error
    bodies (set_cluster_error: security_exception 403 for a missing index
    privilege, index_not_found_exception 404 with auto-create off,
    cluster_block_exception 403 for a write block or 429 for the flood-stage
    disk block); none of those items is stored.
  Read-back: GET|POST /<index>/_search (match_all, term, match, size, from, q=)
    and /<index>/_count; GET / answers like a cluster.
  Security: basic auth users and API keys when configured (401 otherwise);
    optional HTTPS, with client certificates required when a client CA is given.
  Admin: /_receiver/{stats,docs,items,requests} (GET) and
    /_receiver/{fail_next,down,delay,max_body,rule,clear_rules,cluster_error,reset} (POST JSON),
    so an out-of-process test (docker e2e) can script and read it.

Importable (tests put tests/ on sys.path):
    from receivers.elasticsearch import ElasticsearchReceiver
    r = ElasticsearchReceiver(); r.start(); ... r.url ...; r.stop()
Runnable:
    /usr/bin/python3 tests/receivers/elasticsearch.py --host 127.0.0.1 --port 0 [--port-file F]
"""
import argparse
import base64
import fnmatch
import gzip
import json
import random
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _seg_match(seg, key):
    if seg == '*' or seg == '**' or seg == key:
        return True
    return ('*' in seg or '?' in seg) and fnmatch.fnmatchcase(key, seg)


def _filter(obj, paths):
    """Apply ES filter_path (list of split paths) to obj; None when nothing is kept."""
    if not paths:
        return None
    if isinstance(obj, list):
        out = [x for x in (_filter(e, paths) for e in obj) if x is not None]
        return out if out else None
    if not isinstance(obj, dict):
        return obj if any(len(p) == 0 for p in paths) else None
    out = {}
    for k, v in obj.items():
        sub = [p[1:] for p in paths if p and _seg_match(p[0], k)]
        if not sub:
            continue
        if any(len(p) == 0 for p in sub):
            out[k] = v
            continue
        fv = _filter(v, sub)
        if fv is not None:
            out[k] = fv
    return out if out else None


def _get_field(src, field):
    """Look a (dotted) field up the way ES sees it: 'a.b' as a key or as a path."""
    if field.endswith('.keyword'):
        field = field[:-8]
    if field in src:
        return src[field]
    cur = src
    for part in field.split('.'):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


# Item errors a real cluster returns for conditions that hit every document alike
# (Elasticsearch 8: SecurityException, IndexNotFoundException from AutoCreateIndex,
# ClusterBlockException for index.blocks.write and the flood-stage disk block).
CLUSTER_ERRORS = {
    'security': (403, lambda ix, user: {
        'type': 'security_exception',
        'reason': 'action [indices:data/write/bulk[s]] is unauthorized for user [%s] with effective '
                  'roles [logship_writer] on indices [%s], this action is granted by the index '
                  'privileges [create_doc,create,index,write,all]' % (user, ix)}),
    'index_not_found': (404, lambda ix, user: {
        'type': 'index_not_found_exception',
        'reason': 'no such index [%s] and [action.auto_create_index] is [false]' % ix,
        'resource.type': 'index_expression', 'resource.id': ix, 'index_uuid': '_na_', 'index': ix}),
    'write_block': (403, lambda ix, user: {
        'type': 'cluster_block_exception',
        'reason': 'index [%s] blocked by: [FORBIDDEN/8/index write (api)];' % ix}),
    'flood_stage': (429, lambda ix, user: {
        'type': 'cluster_block_exception',
        'reason': 'index [%s] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage '
                  'watermark, index has read-only-allow-delete block];' % ix}),
}


class Rule:
    def __init__(self, status, field=None, value=None, nth=None, times=None, error_type=None,
                 reason=None, fraction=None, seed=1):
        self.status = int(status)
        self.field = field
        self.value = value
        if nth is None:
            self.nth = None
        elif isinstance(nth, (list, tuple, set)):
            self.nth = set(int(x) for x in nth)
        else:
            self.nth = {int(nth)}
        self.times = times   # firings left; None = forever
        self.error_type = error_type or {
            400: 'mapper_parsing_exception', 409: 'version_conflict_engine_exception',
            429: 'es_rejected_execution_exception'}.get(self.status, 'exception')
        self.reason = reason or 'scripted by the test receiver'
        self.fraction = None if fraction is None else float(fraction)
        self.rng = random.Random(seed)

    def matches(self, n, src):
        if self.times is not None and self.times <= 0:
            return False
        if self.nth is not None and n not in self.nth:
            return False
        if self.fraction is not None and self.rng.random() >= self.fraction:
            return False
        if self.field is not None:
            if not isinstance(src, dict) or _get_field(src, self.field) != self.value:
                return False
        return True


class ElasticsearchReceiver:
    def __init__(self, host='127.0.0.1', port=0, max_body=None, users=None, api_keys=None,
                 data_streams=('logs-*-*',), certfile=None, keyfile=None, client_ca=None):
        self.host, self._want_port = host, port
        self.tls = None
        if certfile:   # HTTPS; with client_ca, a client certificate is required (mTLS)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
            if client_ca:
                ctx.load_verify_locations(client_ca)
                ctx.verify_mode = ssl.CERT_REQUIRED
            self.tls = ctx
        self.lock = threading.RLock()
        self.max_body = max_body
        self.users = dict(users or {})          # user -> password
        self.api_keys = set(api_keys or ())     # the base64 value after "ApiKey "
        self.data_streams = tuple(data_streams)
        self.server = None
        self.thread = None
        self.reset()

    # ---- lifecycle ----
    def start(self):
        rcv = self

        class Handler(_Handler):
            receiver = rcv
        self.server = ThreadingHTTPServer((self.host, self._want_port), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, client_address: None  # failed handshakes: quiet
        if self.tls is not None:
            # the handshake runs in the handler thread (see _Handler.setup)
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True,
                                                      do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        self.url = '%s://%s:%d' % ('https' if self.tls else 'http', self.host, self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    # ---- scripting ----
    def reset(self):
        with self.lock:
            self.indices = {}        # name -> {id: source}
            self.seq_no = 0
            self.items_received = 0
            self.item_log = []       # every item: dict(n, index, id, op, status, source)
            self.request_log = []    # every request: dict(method, path, status, items, bytes, headers)
            self.rules = []
            self.fail_queue = []     # whole-request statuses to answer next
            self.down = False
            self.delay = 0.0
            self.status_counts = {}
            self.tls_errors = []
            self.cluster_error = None   # (kind, index pattern) while a cluster condition holds

    def fail_next(self, n=1, status=500):
        with self.lock:
            self.fail_queue.extend([int(status)] * int(n))

    def set_down(self, down=True):
        with self.lock:
            self.down = bool(down)

    def set_delay(self, seconds):
        with self.lock:
            self.delay = float(seconds)

    def set_max_body(self, nbytes):
        with self.lock:
            self.max_body = None if nbytes is None else int(nbytes)

    def add_rule(self, status, field=None, value=None, nth=None, times=None, error_type=None,
                 reason=None, fraction=None, seed=1):
        """Answer matching items with status: by field value, by Nth item received
        (1-based, int or list), a `fraction` of items (drawn from a RNG seeded with
        `seed`), at most `times` times in total (None: always)."""
        with self.lock:
            self.rules.append(Rule(status, field, value, nth, times, error_type, reason, fraction,
                                   seed))

    def set_cluster_error(self, kind=None, index='*', user='logship'):
        """Refuse every item bound for an index matching `index` as a real cluster does
        when `kind` holds: 'security' (the user lacks the index privilege),
        'index_not_found' (auto-create is off), 'write_block' (index.blocks.write),
        'flood_stage' (disk full: read-only-allow-delete, answered 429). None lifts it."""
        if kind is not None and kind not in CLUSTER_ERRORS:
            raise ValueError('unknown cluster error %r' % kind)
        with self.lock:
            self.cluster_error = None if kind is None else (kind, index, user)

    def clear_rules(self):
        with self.lock:
            self.rules = []

    # ---- read-back ----
    def _match_indices(self, pattern):
        pats = [p for p in (pattern or '*').split(',') if p]
        return [name for name in self.indices
                if any(fnmatch.fnmatchcase(name, p) for p in pats) or pattern in ('_all', '*')]

    def docs(self, index='*'):
        """[(index, id, source)] for every stored document."""
        with self.lock:
            return [(i, d, s) for i in self._match_indices(index) for d, s in self.indices[i].items()]

    def count(self, index='*'):
        with self.lock:
            return sum(len(self.indices[i]) for i in self._match_indices(index))

    def items(self):
        with self.lock:
            return list(self.item_log)

    def requests(self):
        with self.lock:
            return list(self.request_log)

    def stats(self):
        with self.lock:
            return {'docs': sum(len(v) for v in self.indices.values()),
                    'indices': {k: len(v) for k, v in self.indices.items()},
                    'items': self.items_received, 'requests': len(self.request_log),
                    'statuses': dict(self.status_counts)}

    # ---- the _bulk semantics ----
    def _is_data_stream(self, name):
        return any(fnmatch.fnmatchcase(name, p) for p in self.data_streams)

    def _item(self, op, meta, src, raw_src):
        """Judge one item (lock held). Returns the item response body."""
        self.items_received += 1
        n = self.items_received
        index = meta.get('_index')
        doc_id = meta.get('_id')
        res = {'_index': index, '_id': doc_id}
        status, err = None, None
        ce = self.cluster_error
        if ce is not None and index and fnmatch.fnmatchcase(index, ce[1]):
            status, make = CLUSTER_ERRORS[ce[0]]
            err = make(index, ce[2])
        for rule in (self.rules if status is None else ()):
            if rule.matches(n, src):
                if rule.times is not None:
                    rule.times -= 1
                status, err = rule.status, {'type': rule.error_type, 'reason': rule.reason}
                break
        if status is None:
            if not index:
                status, err = 400, {'type': 'action_request_validation_exception',
                                    'reason': 'Validation Failed: 1: index is missing;'}
            elif op != 'delete' and not isinstance(src, dict):
                status, err = 400, {'type': 'document_parsing_exception',
                                    'reason': '[1:1] failed to parse: not a JSON object'}
            elif self._is_data_stream(index) and op != 'create':
                status, err = 400, {'type': 'illegal_argument_exception',
                                    'reason': 'only write ops with an op_type of create are allowed '
                                              'in data streams'}
            elif self._is_data_stream(index) and '@timestamp' not in src:
                status, err = 400, {'type': 'document_parsing_exception',
                                    'reason': '[1:2] failed to parse: data stream timestamp field '
                                              '[@timestamp] is missing'}
        if status is None:
            store = self.indices.setdefault(index, {})
            if op == 'delete':
                status = 200 if doc_id in store else 404
                store.pop(doc_id, None)
                res['result'] = 'deleted' if status == 200 else 'not_found'
            else:
                if doc_id is None:
                    doc_id = uuid.uuid4().hex[:20]
                    res['_id'] = doc_id
                if op == 'create' and doc_id in store:
                    status, err = 409, {
                        'type': 'version_conflict_engine_exception',
                        'reason': '[%s]: version conflict, document already exists (current version '
                                  '[1])' % doc_id, 'index': index}
                else:
                    status = 200 if doc_id in store else 201
                    store[doc_id] = src
                    self.seq_no += 1
                    res.update({'_version': 1, 'result': 'created' if status == 201 else 'updated',
                                '_shards': {'total': 2, 'successful': 1, 'failed': 0},
                                '_seq_no': self.seq_no, '_primary_term': 1})
        res['status'] = status
        if err is not None:
            err.setdefault('index', index)
            res['error'] = err
        self.status_counts[status] = self.status_counts.get(status, 0) + 1
        self.item_log.append({'n': n, 'index': index, 'id': res.get('_id'), 'op': op,
                              'status': status, 'source': src})
        return res

    def bulk(self, target, body):
        """Process an NDJSON body; returns (http_status, response dict)."""
        text = body.decode('utf-8', errors='replace')
        if text and not text.endswith('\n'):
            return 400, _error(400, 'illegal_argument_exception',
                               'The bulk request must be terminated by a newline [\\n]')
        lines = text.split('\n')[:-1] if text else []
        # parse everything first: a malformed action line fails the whole request, as in ES
        parsed = []
        i = 0
        while i < len(lines):
            if not lines[i].strip():
                i += 1
                continue
            try:
                action = json.loads(lines[i])
                (op, meta), = action.items()
                if op not in ('create', 'index', 'delete', 'update') or not isinstance(meta, dict):
                    raise ValueError(op)
            except (ValueError, AttributeError):
                return 400, _error(400, 'illegal_argument_exception',
                                   'Malformed action/metadata line [%d]' % (i + 1))
            i += 1
            meta = dict(meta)
            meta.setdefault('_index', target)
            src, raw = None, None
            if op != 'delete':
                if i >= len(lines):
                    return 400, _error(400, 'illegal_argument_exception',
                                       'The bulk request must be terminated by a newline [\\n]')
                raw = lines[i]
                try:
                    src = json.loads(raw)
                except ValueError:
                    src = raw   # not JSON: an item error, not a request error
                i += 1
            parsed.append((op, meta, src, raw))
        with self.lock:
            items = [{op: self._item(op, meta, src, raw)} for op, meta, src, raw in parsed]
        return 200, {'took': 1, 'errors': any('error' in list(x.values())[0] for x in items),
                     'items': items}

    def search(self, index, query, size, from_):
        with self.lock:
            docs = [(i, d, s) for i in self._match_indices(index) for d, s in self.indices[i].items()]
        q = (query or {}).get('query') or {'match_all': {}}
        (kind, arg), = q.items()
        if kind in ('term', 'match'):
            (field, want), = arg.items()
            if isinstance(want, dict):
                want = want.get('value', want.get('query'))
            docs = [x for x in docs if _get_field(x[2], field) == want]
        elif kind != 'match_all':
            raise ValueError('unsupported query ' + kind)
        return docs[from_:from_ + size], len(docs)


def _error(status, etype, reason):
    return {'error': {'root_cause': [{'type': etype, 'reason': reason}], 'type': etype,
                      'reason': reason}, 'status': status}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    receiver = None

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        # headers and body go out in separate writes: without NODELAY, Nagle + the
        # client's delayed ACK would stall every response by ~40 ms
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError) as e:
                with self.receiver.lock:
                    self.receiver.tls_errors.append(str(e))
                raise
        super().setup()

    def handle(self):
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError):
            pass

    def _send(self, status, obj=None, extra=None):
        body = b'' if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _read_body(self):
        n = int(self.headers.get('Content-Length') or 0)
        data = self.rfile.read(n) if n else b''
        return data

    def _authorized(self):
        r = self.receiver
        if not r.users and not r.api_keys:
            return True
        auth = self.headers.get('Authorization') or ''
        if auth.startswith('ApiKey ') and auth[7:].strip() in r.api_keys:
            return True
        if auth.startswith('Basic '):
            try:
                user, _, pw = base64.b64decode(auth[6:].strip()).decode().partition(':')
            except (ValueError, UnicodeDecodeError):
                return False
            return r.users.get(user) == pw and user in r.users
        return False

    def do_HEAD(self):
        self._dispatch('HEAD')

    def do_GET(self):
        self._dispatch('GET')

    def do_POST(self):
        self._dispatch('POST')

    def do_PUT(self):
        self._dispatch('PUT')

    def _dispatch(self, method):
        r = self.receiver
        url = urllib.parse.urlsplit(self.path)
        qs = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        raw = self._read_body() if method in ('POST', 'PUT') else b''
        if path.startswith('/_receiver/'):
            return self._admin(method, path[len('/_receiver/'):], raw, qs)
        with r.lock:
            down, delay = r.down, r.delay
        if down:
            self.close_connection = True   # no answer at all: the client sees a dropped connection
            return
        if delay:
            time.sleep(delay)
        entry = {'method': method, 'path': self.path, 'bytes': len(raw),
                 'headers': {k.lower(): v for k, v in self.headers.items()}}
        if not self._authorized():
            entry.update(status=401, items=0)
            with r.lock:
                r.request_log.append(entry)
            return self._send(401, _error(401, 'security_exception',
                                          'missing authentication credentials for REST request'),
                              {'WWW-Authenticate': 'Basic realm="security" charset="UTF-8", ApiKey'})
        with r.lock:
            forced = r.fail_queue.pop(0) if r.fail_queue else None
        if forced is not None:
            entry.update(status=forced, items=0)
            with r.lock:
                r.request_log.append(entry)
            return self._send(forced, _error(forced, 'scripted', 'scripted failure'))
        parts = [p for p in path.split('/') if p]
        if parts and parts[-1] == '_bulk' and method in ('POST', 'PUT'):
            if r.max_body is not None and len(raw) > r.max_body:
                entry.update(status=413, items=0)
                with r.lock:
                    r.request_log.append(entry)
                return self._send(413)
            ctype = (self.headers.get('Content-Type') or '').split(';')[0].strip()
            if ctype not in ('application/x-ndjson', 'application/json'):
                return self._send(406, _error(406, 'media_type_header_exception',
                                              'Content-Type header [%s] is not supported' % ctype))
            enc = (self.headers.get('Content-Encoding') or '').lower()
            try:
                if enc == 'gzip':
                    raw = gzip.decompress(raw)
                elif enc == 'deflate':
                    raw = zlib.decompress(raw)
            except (OSError, zlib.error, EOFError):
                return self._send(400, _error(400, 'parse_exception', 'bad gzip body'))
            target = parts[0] if len(parts) == 2 else None
            status, resp = r.bulk(target, raw)
            entry.update(status=status, items=len(resp.get('items', [])), gzip=enc == 'gzip')
            with r.lock:
                r.request_log.append(entry)
            if 'filter_path' in qs and status == 200:
                resp = _filter(resp, [p.split('.') for p in qs['filter_path'].split(',')]) or {}
            return self._send(status, resp)
        if parts and parts[-1] in ('_search', '_count') and method in ('GET', 'POST'):
            index = parts[0] if len(parts) == 2 else '*'
            try:
                query = json.loads(raw) if raw.strip() else {}
                if 'q' in qs:
                    f, _, v = qs['q'].partition(':')
                    query = {'query': {'term': {f: v}}}
                size = int(qs.get('size', query.get('size', 10)))
                from_ = int(qs.get('from', query.get('from', 0)))
                hits, total = r.search(index, query, size, from_)
            except (ValueError, AttributeError, TypeError) as e:
                return self._send(400, _error(400, 'parsing_exception', str(e)))
            if parts[-1] == '_count':
                return self._send(200, {'count': total, '_shards': {'total': 1, 'successful': 1,
                                                                     'skipped': 0, 'failed': 0}})
            return self._send(200, {'took': 1, 'timed_out': False, 'hits': {
                'total': {'value': total, 'relation': 'eq'},
                'hits': [{'_index': i, '_id': d, '_score': 1.0, '_source': s} for i, d, s in hits]}})
        if path == '/' and method in ('GET', 'HEAD'):
            return self._send(200, {'name': 'test-receiver', 'cluster_name': 'logship-tests',
                                    'version': {'number': '8.11.0'},
                                    'tagline': 'You Know, for Search'})
        return self._send(404, _error(404, 'index_not_found_exception', 'no such index or endpoint'))

    def _admin(self, method, what, raw, qs):
        r = self.receiver
        try:
            arg = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return self._send(400, {'error': 'body must be JSON'})
        if method == 'GET':
            if what == 'stats':
                return self._send(200, r.stats())
            if what == 'docs':
                return self._send(200, [{'index': i, 'id': d, 'source': s}
                                        for i, d, s in r.docs(qs.get('index', '*'))])
            if what == 'items':
                return self._send(200, r.items())
            if what == 'requests':
                return self._send(200, r.requests())
        elif method == 'POST':
            if what == 'fail_next':
                r.fail_next(arg.get('n', 1), arg.get('status', 500))
            elif what == 'down':
                r.set_down(arg.get('down', True))
            elif what == 'delay':
                r.set_delay(arg.get('seconds', 0))
            elif what == 'max_body':
                r.set_max_body(arg.get('bytes'))
            elif what == 'rule':
                r.add_rule(**arg)
            elif what == 'clear_rules':
                r.clear_rules()
            elif what == 'cluster_error':
                try:
                    r.set_cluster_error(arg.get('kind'), arg.get('index', '*'), arg.get('user', 'logship'))
                except ValueError as e:
                    return self._send(400, {'error': str(e)})
            elif what == 'reset':
                r.reset()
            else:
                return self._send(404, {'error': 'unknown admin action'})
            return self._send(200, {'ok': True})
        return self._send(404, {'error': 'unknown admin endpoint'})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--port-file')
    ap.add_argument('--max-body', type=int)
    ap.add_argument('--user', action='append', default=[], help='USER:PASSWORD (repeatable)')
    ap.add_argument('--api-key', action='append', default=[], help='accepted ApiKey value')
    ap.add_argument('--cert', help='serve HTTPS with this certificate (PEM)')
    ap.add_argument('--key', help='its private key')
    ap.add_argument('--client-ca', help='require client certificates signed by this CA')
    a = ap.parse_args(argv)
    users = dict(u.split(':', 1) for u in a.user)
    r = ElasticsearchReceiver(a.host, a.port, a.max_body, users, a.api_key, certfile=a.cert,
                              keyfile=a.key, client_ca=a.client_ca).start()
    print(r.port, flush=True)
    if a.port_file:
        with open(a.port_file + '.tmp', 'w') as f:
            f.write('%d\n' % r.port)
        import os
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
