"""check-grafana.py: the provisioned Grafana files are consistent: every
dashboard is valid JSON with a uid and panels, every datasource a panel or
target names is provisioned, LogQL/PromQL expressions have balanced
brackets, and the hello dashboard has the panels the README promises
(request rate and error rate from LogQL, and a logs panel). The hello
dashboard is the home dashboard of the default profile, which has no
Prometheus: all its panels must use Loki, or a new user sees error panels."""
import glob
import json
import sys

import yaml

ROOT = "deploy/grafana"
# datasources whose service runs without any profile (docker-compose.yml)
DEFAULT_PROFILE_DATASOURCES = {"loki"}


def balanced(expr):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack, quote = [], None
    for ch in expr:
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "\"`":
            quote = ch
        elif ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack and quote is None


def main():
    errors = []
    uids = set()
    for f in glob.glob(ROOT + "/provisioning/datasources/*.yaml"):
        for ds in yaml.safe_load(open(f)).get("datasources", []):
            uids.add(ds["uid"])
    dashboards = sorted(glob.glob(ROOT + "/dashboards/*.json"))
    if not dashboards:
        errors.append("no dashboards")
    for f in dashboards:
        try:
            d = json.load(open(f))
        except ValueError as e:
            errors.append("%s: %s" % (f, e))
            continue
        if not d.get("uid") or not d.get("panels"):
            errors.append("%s: needs a uid and panels" % f)
        for p in d.get("panels", []):
            for ds in [p.get("datasource")] + [t.get("datasource") for t in p.get("targets", [])]:
                if isinstance(ds, dict) and ds.get("uid") not in uids:
                    errors.append("%s panel %r: datasource %r not provisioned" % (f, p.get("title"), ds))
            for t in p.get("targets", []):
                if not balanced(t.get("expr", "")):
                    errors.append("%s panel %r: unbalanced expression %r" % (f, p.get("title"), t.get("expr")))
        if f.endswith("/hello.json"):
            loki = [p for p in d["panels"] if (p.get("datasource") or {}).get("uid") == "loki"]
            kinds = {p["type"] for p in loki}
            titles = " ".join(p["title"].lower() for p in loki)
            if "logs" not in kinds or "request rate" not in titles or "error rate" not in titles:
                errors.append("%s: needs LogQL request rate, error rate and a logs panel" % f)
            for p in d["panels"]:
                for ds in [p.get("datasource")] + [t.get("datasource") for t in p.get("targets", [])]:
                    if isinstance(ds, dict) and ds.get("uid") not in DEFAULT_PROFILE_DATASOURCES:
                        errors.append("%s panel %r: datasource %r is not in the default profile"
                                      % (f, p.get("title"), ds.get("uid")))
    for e in errors:
        print("check-grafana: " + e)
    print("check-grafana: %d dashboards, %d datasources, %d problems" % (len(dashboards), len(uids), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
