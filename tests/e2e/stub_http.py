"""stub_http: a tiny HTTP server that answers one health path with 200 and
everything else with 404. The e2e stack runs it in place of Grafana and
Kibana, whose images cannot be pulled here, so that their services (and what
depends on them) come up healthy. Usage: python3 stub_http.py --port N --ok-path /api/health"""
import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ok-path", action="append", required=True)
    a = ap.parse_args()
    ok_body = json.dumps({"database": "ok", "status": {"overall": {"level": "available"}}}).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            if self.path.split("?")[0] in a.ok_path:
                status, body = 200, ok_body
            else:
                status, body = 404, b'{"statusCode":404}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    srv.serve_forever()


if __name__ == "__main__":
    main()
