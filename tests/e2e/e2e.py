"""e2e.py: the end-to-end checks on a running compose stack (started by run.sh).

Talks to the stack only from outside, as a user would: HTTPS on the published
ports, `docker-compose` for scaling and restarts, `docker logs` for which
replica served what, and the receivers' /_receiver/ admin APIs (the stand-ins
for Loki and Logstash) on their published ports. Prints one PASS/FAIL line per
check and a summary; exits 1 when any check failed. Standard library only.
"""
import http.client
import json
import os
import shlex
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid

COMPOSE = shlex.split(os.environ.get("E2E_COMPOSE", "docker-compose -p hello-e2e -f docker-compose.yml "
                                     "-f tests/e2e/compose.e2e.yml --profile elk "
                                     "--profile monitoring"))
ENV_LABEL = os.environ.get("HELLO_ENV", "e2e")
DELIVERY_TIMEOUT = float(os.environ.get("E2E_DELIVERY_TIMEOUT", "90"))
RUN = uuid.uuid4().hex[:8]

results = []


def log(msg):
    print("[e2e] " + msg, flush=True)


def check(name, ok, detail=""):
    results.append((name, bool(ok), detail))
    print("[e2e] %s: %s%s" % ("PASS" if ok else "FAIL", name, (" (" + detail + ")") if detail else ""),
          flush=True)
    return ok


def compose(*args, check_rc=True, timeout=600):
    p = subprocess.run(COMPOSE + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    if check_rc and p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(args), p.stdout[-2000:]))
    return p.stdout


def published(service, port, index=1):
    out = compose("port", "--index=%d" % index, service, str(port)).strip()
    if not out or ":" not in out:
        raise RuntimeError("no published port for %s:%s" % (service, port))
    host, _, p = out.rpartition(":")
    return ("127.0.0.1" if host in ("0.0.0.0", "") else host), int(p)


def containers(service):
    out = compose("ps", "-q", service)
    return [c for c in out.split() if c]


def health(cid):
    p = subprocess.run(["docker", "inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}"
                        "{{else}}{{.State.Status}}{{end}}", cid],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p.stdout.strip()


def wait_healthy(service, n, timeout=180):
    deadline = time.time() + timeout
    states = []
    while time.time() < deadline:
        cids = containers(service)
        states = [health(c) for c in cids]
        if len(cids) == n and all(s == "healthy" for s in states):
            return True
        time.sleep(1)
    log("%s not healthy: %s" % (service, states))
    return False


TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE


def https_get(host, port, path, req_id=None, timeout=10):
    """One request on a fresh connection (so a proxy spreads them). → (status, headers, body)"""
    c = http.client.HTTPSConnection(host, port, context=TLS, timeout=timeout)
    try:
        headers = {"X-Request-Id": req_id} if req_id else {}
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def http_json(host, port, path, timeout=10):
    with urllib.request.urlopen("http://%s:%d%s" % (host, port, path), timeout=timeout) as r:
        return json.loads(r.read().decode("utf-8"))


class Receivers:
    """Readback from the Loki and Logstash (beats) stand-ins."""

    def __init__(self):
        self.loki = published("loki", 3100)
        self.beats_admin = published("logstash", 9600)

    def loki_entries(self):
        return http_json(*self.loki, "/_receiver/entries")

    def loki_ids(self, ids):
        """{request_id: [labels, ...]} for the ids found in Loki entries."""
        found = {}
        for e in self.loki_entries():
            line = e.get("line", "")
            for rid in ids:
                if rid in line:
                    found.setdefault(rid, []).append(e.get("labels", {}))
        return found

    def beats_ids(self, ids):
        found = {}
        for ev in http_json(*self.beats_admin, "/_receiver/events"):
            text = json.dumps(ev)
            for rid in ids:
                if rid in text:
                    found[rid] = found.get(rid, 0) + 1
        return found

    def wait_all(self, ids, timeout=DELIVERY_TIMEOUT, beats=True):
        """Wait until every id is in Loki (and the beats receiver, when beats).
        → (loki_found, beats_found, seconds)"""
        t0 = time.time()
        lf, bf = {}, {}
        while True:
            try:
                lf = self.loki_ids(ids)
                bf = self.beats_ids(ids) if beats else {}
            except OSError as e:
                log("receiver read failed: %s" % e)
            if (len(lf) == len(ids) and (len(bf) == len(ids) or not beats)) or time.time() - t0 > timeout:
                return lf, bf, time.time() - t0
            time.sleep(1)


def replica_ids(cids, ids):
    """{container_id: set(request ids it logged on stdout)} from docker logs."""
    want = set(ids)
    out = {}
    for c in cids:
        p = subprocess.run(["docker", "logs", c], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, errors="replace")
        got = set()
        for line in p.stdout.splitlines():
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if isinstance(o, dict) and o.get("request_id") in want:
                got.add(o["request_id"])
        out[c] = got
    return out


# (service, container port) published by default, as deploy/README.md lists
# them for the profiles run here (default, elk, monitoring). hellod: none.
DOCUMENTED_PORTS = {("proxy", 8443), ("proxy", 8080), ("logship", 9880), ("loki", 3100),
                    ("grafana", 3000), ("elasticsearch", 9200), ("logstash", 5044),
                    ("logstash", 9600), ("kibana", 5601), ("prometheus", 9090),
                    ("alertmanager", 9093), ("cadvisor", 8080)}


def step_ports():
    """The published ports are exactly the documented ones; hellod has none."""
    project = os.environ.get("COMPOSE_PROJECT_NAME", "hello-e2e")
    p = subprocess.run(["docker", "ps", "-q", "--filter", "label=com.docker.compose.project=" + project],
                       stdout=subprocess.PIPE, text=True)
    got = set()
    for cid in p.stdout.split():
        info = json.loads(subprocess.run(["docker", "inspect", cid], stdout=subprocess.PIPE,
                                         text=True).stdout)[0]
        svc = info["Config"]["Labels"].get("com.docker.compose.service")
        for cport, binds in (info["NetworkSettings"].get("Ports") or {}).items():
            if binds:
                got.add((svc, int(cport.split("/")[0])))
    check("published ports are exactly the documented ones",
          got == DOCUMENTED_PORTS, "extra %s, missing %s" % (sorted(got - DOCUMENTED_PORTS),
                                                             sorted(DOCUMENTED_PORTS - got)))
    check("hellod is not published (only the edge reaches it)", not any(s == "hellod" for s, _ in got))


def step_edge(rx):
    host, port = published("proxy", 8443)
    rid = "e2e-%s-edge" % RUN
    c = http.client.HTTPSConnection(host, port, context=TLS, timeout=10)
    c.request("GET", "/helloworld", headers={"X-Request-Id": rid})
    r = c.getresponse()
    body = r.read()
    hsts = [v for k, v in r.getheaders() if k.lower() == "strict-transport-security"]
    echoed = r.getheader("X-Request-Id")
    c.close()
    ok = check("HTTPS GET /helloworld through the edge (port %d) -> 200" % port,
               r.status == 200 and json.loads(body) == {"message": "Hello World"},
               "status %s body %r" % (r.status, body[:80]))
    check("X-Request-Id passed through the edge and echoed", echoed == rid, str(echoed))
    check("exactly one Strict-Transport-Security header", len(hsts) == 1, str(hsts))
    status, hdrs, _ = https_get(host, port, "/helloworld")
    check("the edge makes a request id when none is sent",
          status == 200 and len(hdrs.get("x-request-id", "")) >= 16, hdrs.get("x-request-id", "-"))
    h2, p2 = published("proxy", 8080)
    c = http.client.HTTPConnection(h2, p2, timeout=10)
    c.request("GET", "/helloworld", headers={"Host": "localhost:%d" % p2})
    r = c.getresponse()
    loc = r.getheader("Location", "")
    c.close()
    check("the edge's HTTP port redirects to HTTPS", r.status in (301, 308) and loc.startswith("https://"),
          "%s %s" % (r.status, loc))
    if not ok:
        return
    # hellod's line and nginx's line carry the same request id
    t0 = time.time()
    lf = {}
    while time.time() - t0 < DELIVERY_TIMEOUT:
        lf = rx.loki_ids([rid])
        services = {l.get("service") for l in lf.get(rid, [])}
        if {"hellod", "nginx"} <= services:
            break
        time.sleep(1)
    labels = lf.get(rid, [])
    by_service = {l.get("service"): l for l in labels}
    check("hellod's line reached the Loki receiver", "hellod" in by_service, "%.1f s" % (time.time() - t0))
    check("the edge's access line reached the Loki receiver labelled service=\"nginx\"",
          "nginx" in by_service, str(labels))
    for svc in ("hellod", "nginx"):
        want = {"service": svc, "shipper": "logship", "env": ENV_LABEL, "level": "info"}
        got = by_service.get(svc, {})
        check("Loki labels of the %s line are %s" % (svc, want), all(got.get(k) == v for k, v in want.items()),
              str(got))
        check("no request id or path in the %s line's labels" % svc,
              not any(k in got for k in ("request_id", "path", "remote")), str(sorted(got)))
    _, bf, _ = rx.wait_all([rid], timeout=30)
    check("the request's log lines reached the Logstash (beats) receiver", bf.get(rid, 0) >= 2,
          "%d events" % bf.get(rid, 0))
    # What Grafana Explore asks: query_range over the labels.
    host, port = rx.loki
    q = urllib.parse.urlencode({"query": '{service="nginx"}', "limit": 5000,
                                "start": int((time.time() - 3600) * 1e9), "end": int((time.time() + 60) * 1e9)})
    try:
        res = http_json(host, port, "/loki/api/v1/query_range?" + q)
        lines = [v[1] for s in res["data"]["result"] for v in s["values"]]
        check("query_range {service=\"nginx\"} returns the edge's line", any(rid in l for l in lines))
    except (OSError, KeyError, ValueError) as e:
        check("query_range {service=\"nginx\"} returns the edge's line", False, str(e))


def step_symlink(rx):
    """hellod can write into the log volume logship reads: a symlink it plants
    there (to logship's own secret) must not be followed."""
    target = "/run/secrets/logship/logship_es_password"
    name = "/var/log/hello/e2e-%s-planted.log" % RUN
    compose("exec", "-T", "hellod", "ln", "-s", target, name)
    secret = compose("exec", "-T", "logship", "cat", target).strip()
    t0, refused = time.time(), False
    while time.time() - t0 < 30 and not refused:
        time.sleep(1)
        refused = any("file refused" in l and "planted" in l
                      for l in compose("logs", "--no-color", "logship", check_rc=False).splitlines())
    check("a symlink planted by hellod in the log volume is refused by logship", refused,
          "%.0f s" % (time.time() - t0))
    leaked = [e for e in rx.loki_entries() if secret and secret in e.get("line", "")]
    check("logship's secret never reached Loki", len(secret) >= 32 and not leaked, "%d lines" % len(leaked))
    compose("exec", "-T", "hellod", "rm", "-f", name, check_rc=False)


def step_slowclients():
    """The slow-client harness against the edge, through its published port on
    loopback: fresh requests keep being answered within 2 s."""
    harness = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "slowclients.py")
    if not os.path.exists(harness):
        check("slow clients at the edge: >= 99 % of fresh requests answered within 2 s", False,
              "tests/lib/slowclients.py missing (branch hellod)")
        return
    host, port = published("proxy", 8443)
    threads = int(os.environ.get("HELLOD_THREADS", "128"))
    cmd = [sys.executable, harness, "--host", host, "--port", str(port), "--tls", "--insecure",
           "--mode", "mixed", "--per-source", str(threads * 3), "--duration", "20",
           "--probe-url", "https://%s:%d/helloworld" % (host, port), "--probe-timeout", "2"]
    log("slow clients: %s" % " ".join(cmd[1:]))
    # Our own probes beside the harness's (which count any complete answer
    # below 500, a 429 included): fresh requests that must get 200 in 2 s.
    # Through docker-proxy they share the attackers' address at nginx.
    probes = {"n": 0, "ok": 0, "other": {}}

    def probe():
        time.sleep(2)
        end = time.time() + 16
        while time.time() < end:
            probes["n"] += 1
            t0 = time.time()
            try:
                status, _, _ = https_get(host, port, "/helloworld", timeout=2)
            except OSError as e:
                status = type(e).__name__
            if status == 200 and time.time() - t0 <= 2:
                probes["ok"] += 1
            else:
                probes["other"][str(status)] = probes["other"].get(str(status), 0) + 1
            time.sleep(0.25)

    t = threading.Thread(target=probe)
    t.start()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        res = json.loads(p.stdout.strip().splitlines()[-1])
        ratio = float(res["ratio"])
    except (subprocess.TimeoutExpired, ValueError, KeyError, IndexError) as e:
        res, ratio = {"error": str(e)}, 0.0
    t.join()
    check("slow clients at the edge (%d held by one client address): >= 99 %% of the harness's fresh "
          "requests answered within 2 s" % (threads * 3), ratio >= 0.99, json.dumps(res)[:300])
    own = probes["ok"] / probes["n"] if probes["n"] else 0.0
    check("... and >= 99 % of our own fresh requests got 200 within 2 s meanwhile", own >= 0.99,
          "%d/%d, others %s" % (probes["ok"], probes["n"], probes["other"]))


def step_refuse_placeholder():
    """A second project with a placeholder password in its environment (as from
    an old .env): the secrets job refuses, and nothing starts."""
    project = os.environ.get("COMPOSE_PROJECT_NAME", "hello-e2e") + "-refuse"
    dc = ["docker-compose", "-p", project, "-f", "docker-compose.yml"]
    env = dict(os.environ, GRAFANA_ADMIN_PASSWORD="change-me-grafana", COMPOSE_PROJECT_NAME=project)
    try:
        p = subprocess.run(dc + ["up", "-d", "--no-build", "hellod"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        logs = subprocess.run(dc + ["logs", "--no-color", "secrets"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60).stdout
        running = subprocess.run(dc + ["ps", "-q", "hellod"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True).stdout.split()
        states = [health(c) for c in running]
        check("up with GRAFANA_ADMIN_PASSWORD=change-me-grafana fails", p.returncode != 0, p.stdout[-300:])
        check("the secrets job says which setting is a placeholder and what to do",
              "GRAFANA_ADMIN_PASSWORD in .env is a placeholder" in logs, logs[-300:])
        check("hellod did not start", not any(s in ("running", "healthy", "starting") for s in states),
              str(states))
    finally:
        subprocess.run(dc + ["down", "-v", "--remove-orphans"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=300)


def step_scale(rx):
    log("scaling hellod to 3 replicas behind the edge")
    compose("up", "-d", "--no-build", "--scale", "hellod=3")
    if not check("3 hellod replicas healthy", wait_healthy("hellod", 3)):
        return
    check("proxy healthy", wait_healthy("proxy", 1, timeout=60))
    time.sleep(6)  # nginx re-resolves "hellod" every 5 s (resolver valid=5s)
    host, port = published("proxy", 8443)
    ids = ["e2e-%s-scale-%03d" % (RUN, i) for i in range(60)]
    bad = []
    for rid in ids:
        try:
            status, _, _ = https_get(host, port, "/helloworld", rid)
        except OSError as e:
            status = str(e)
        if status != 200:
            bad.append((rid, status))
    check("60 requests through the edge -> 200", not bad, str(bad[:3]))
    cids = containers("hellod")
    per = replica_ids(cids, ids)
    counts = {c[:12]: len(s) for c, s in per.items()}
    check("requests reached all 3 replicas", len(per) == 3 and all(per.values()), str(counts))
    union = set().union(*per.values()) if per else set()
    check("every request is in exactly one replica's docker logs",
          len(union) == len(ids) and sum(len(s) for s in per.values()) == len(ids), str(counts))
    lf, bf, secs = rx.wait_all(ids)
    check("all 60 log lines from the 3 replicas reached Loki", len(lf) == len(ids),
          "%d/%d in %.1f s" % (len(lf), len(ids), secs))
    check("all 60 reached the Logstash (beats) receiver", len(bf) == len(ids), "%d/%d" % (len(bf), len(ids)))


def step_prometheus():
    """Profile monitoring: Prometheus finds every hellod replica through Docker's
    DNS and scrapes it over HTTPS, scrapes logship, and has loaded the rules."""
    host, port = published("prometheus", 9090)
    t0, up = time.time(), {}
    while time.time() - t0 < 90:
        try:
            targets = http_json(host, port, "/api/v1/targets")["data"]["activeTargets"]
            up = {}
            for t in targets:
                if t.get("health") == "up":
                    job = t["labels"].get("job")
                    up[job] = up.get(job, 0) + 1
        except (OSError, KeyError, ValueError) as e:
            log("prometheus read failed: %s" % e)
        if up.get("hellod") == 3 and up.get("logship") == 1:
            break
        time.sleep(2)
    check("Prometheus scrapes all 3 hellod replicas (health port, DNS discovery) and logship",
          up.get("hellod") == 3 and up.get("logship") == 1, "%s in %.0f s" % (up, time.time() - t0))
    try:
        groups = http_json(host, port, "/api/v1/rules")["data"]["groups"]
        names = {r["name"] for g in groups for r in g["rules"]}
    except (OSError, KeyError, ValueError) as e:
        names = set()
        log("prometheus rules read failed: %s" % e)
    want = {"HellodDown", "HellodHigh5xxRatio", "LogshipDown", "LogshipLagging", "LogshipDropping",
            "LogshipSpoolNearlyFull", "LogshipSpoolFull"}
    check("Prometheus loaded the alert rules", want <= names, ", ".join(sorted(want - names)) or "all")
    # the 60 requests of the scale step, once the next scrape (every 15 s) has seen them
    t0, n, by_route = time.time(), 0.0, []
    while time.time() - t0 < 45:
        try:
            by_route = http_json(host, port, "/api/v1/query?query=" + urllib.parse.quote(
                'sum by (route) (hellod_http_requests_total)'))["data"]["result"]
            n = sum(float(r["value"][1]) for r in by_route if r["metric"].get("route") == "helloworld")
        except (OSError, KeyError, ValueError) as e:
            log("prometheus query failed: %s" % e)
        if n >= 60:
            break
        time.sleep(3)
    check("hellod_http_requests_total counts the helloworld requests", n >= 60,
          "%g; by route: %s" % (n, [(r["metric"].get("route"), r["value"][1]) for r in by_route]))
    try:
        am = published("alertmanager", 9093)
        ok = http_json(*am, "/api/v2/status").get("cluster") is not None
    except (OSError, ValueError, RuntimeError) as e:
        ok = False
        log("alertmanager: %s" % e)
    check("Alertmanager up with the config", ok)


def step_restart_logship(rx):
    host, port = published("proxy", 8443)
    ids = ["e2e-%s-restart-%03d" % (RUN, i) for i in range(150)]
    errors = []

    def traffic():
        for rid in ids:
            try:
                status, _, _ = https_get(host, port, "/helloworld", rid)
                if status != 200:
                    errors.append((rid, status))
            except OSError as e:
                errors.append((rid, str(e)))
            time.sleep(0.05)

    t = threading.Thread(target=traffic)
    t.start()
    time.sleep(2)
    log("docker-compose restart logship (mid-stream)")
    compose("restart", "logship")
    t.join()
    check("150 requests during the logship restart -> 200", not errors, str(errors[:3]))
    check("logship healthy again after restart", wait_healthy("logship", 1, timeout=60))
    lf, bf, secs = rx.wait_all(ids)
    check("restart of logship lost nothing in Loki", len(lf) == len(ids),
          "%d/%d in %.1f s" % (len(lf), len(ids), secs))
    check("restart of logship lost nothing in Logstash", len(bf) == len(ids), "%d/%d" % (len(bf), len(ids)))
    dups = sum(n - 1 for n in bf.values())
    log("beats duplicates after the restart (at-least-once): %d" % dups)


def step_elasticsearch(rx):
    """ELK_OUTPUT=elasticsearch: logship recreated with the _bulk output, as the
    setup job's logship_writer user, into the data stream logs-hello-default."""
    log("recreating logship with ELK_OUTPUT=elasticsearch")
    env = dict(os.environ, ELK_OUTPUT="elasticsearch")
    p = subprocess.run(COMPOSE + ["up", "-d", "--no-build", "--no-deps", "logship"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    if not check("logship recreated with the Elasticsearch output", p.returncode == 0, p.stdout[-300:]):
        return
    check("logship healthy with the Elasticsearch output", wait_healthy("logship", 1, timeout=60))
    host, port = published("proxy", 8443)
    ids = ["e2e-%s-es-%03d" % (RUN, i) for i in range(20)]
    bad = [rid for rid in ids if https_get(host, port, "/helloworld", rid)[0] != 200]
    check("20 requests -> 200", not bad, str(bad[:3]))
    es = published("elasticsearch", 9200)
    t0, found, docs = time.time(), {}, []
    while time.time() - t0 < DELIVERY_TIMEOUT:
        try:
            docs = http_json(*es, "/_receiver/docs")
        except OSError as e:
            log("receiver read failed: %s" % e)
        found = {}
        for d in docs:
            text = json.dumps(d)
            for rid in ids:
                if rid in text:
                    found[rid] = d
        if len(found) == len(ids):
            break
        time.sleep(1)
    check("all 20 reached the Elasticsearch receiver", len(found) == len(ids),
          "%d/%d in %.1f s" % (len(found), len(ids), time.time() - t0))
    sample = next(iter(found.values()), None)
    index = sample[0] if isinstance(sample, list) else (sample or {}).get("index")
    check("into the data stream logs-hello-default", index == "logs-hello-default", str(index))
    # Loki keeps getting everything meanwhile.
    lf = rx.wait_all(ids, timeout=30, beats=False)[0]
    check("and all 20 reached Loki too", len(lf) == len(ids), "%d/%d" % (len(lf), len(ids)))


def main():
    t0 = time.time()
    try:
        for svc in ("hellod", "logship", "loki", "logstash", "proxy", "grafana"):
            check("%s healthy" % svc, wait_healthy(svc, 1))
        rx = Receivers()
        step_ports()
        step_edge(rx)
        step_symlink(rx)
        step_scale(rx)
        step_slowclients()
        step_prometheus()
        step_restart_logship(rx)
        step_elasticsearch(rx)
        step_refuse_placeholder()
    except Exception as e:  # any crash of the checker is a failed check, with the reason
        check("e2e checker ran to the end", False, "%s: %s" % (type(e).__name__, e))
    failed = [r for r in results if not r[1]]
    if failed:
        log("logs of the stack (tail) for the failures:")
        print(compose("logs", "--no-color", "--tail=40", check_rc=False)[-12000:], flush=True)
    log("summary: %d passed, %d failed, %.0f s" % (len(results) - len(failed), len(failed), time.time() - t0))
    for name, _, detail in failed:
        log("  FAILED: %s %s" % (name, detail))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
