"""validate-k8s.py: offline validation of Kubernetes manifests (no cluster).

Usage: /usr/bin/python3 scripts/validate-k8s.py FILE_OR_DIR...

Each YAML document is checked against the Kubernetes API models of Debian's
python3-kubernetes (the OpenAPI-generated client): the apiVersion/kind pair
must map to a known model, every field name must exist in that model at its
place in the tree (typos are errors), values must have the model's types, and
the models' required fields must be present (the client raises on a missing
one). apiVersions newer than the installed client (e.g. autoscaling/v2 in
client 22) are checked against the closest older version with the same
schema.

Then the project's policy over all the objects together (policy()): every
container has a restrictive securityContext (non-root, no privilege
escalation, read-only root, capabilities dropped, RuntimeDefault seccomp);
probes of a container with a "health" or "metrics" port use those ports, never
the client-facing one; every namespace with workloads has a default-deny
NetworkPolicy; only Prometheus may reach health/metrics ports and only the
Ingress controller the HTTPS port; and an Ingress fronts the hellod Service.
Exit status: 0 all valid, 1 any error, 2 usage or missing tools.
"""
import datetime
import os
import re
import sys

try:
    import yaml
    from kubernetes import client
except ImportError as e:  # pragma: no cover
    print("validate-k8s: needs python3-yaml and python3-kubernetes (apt-get install): %s" % e,
          file=sys.stderr)
    sys.exit(2)

# apiVersion fall-backs when the client predates a version (same schema).
FALLBACK = {"autoscaling/v2": ["autoscaling/v2", "autoscaling/v2beta2"]}
PRIMITIVES = {"str": str, "int": int, "float": (int, float), "bool": bool, "object": object}


def model_name(api_version, kind):
    group, _, version = api_version.rpartition("/")
    return "%s%s" % (version[0].upper() + version[1:], kind)


def find_model(api_version, kind):
    for av in FALLBACK.get(api_version, [api_version]):
        cls = getattr(client, model_name(av, kind), None)
        if cls is not None:
            return cls
    return None


def walk(value, typ, path, errors):
    """Check value against an OpenAPI type string of the client ("V1PodSpec",
    "list[V1Container]", "dict(str, str)", "str", ...)."""
    if value is None:
        return
    m = re.match(r"list\[(.*)\]$", typ)
    if m:
        if not isinstance(value, list):
            errors.append("%s: expected a list, got %s" % (path, type(value).__name__))
            return
        for i, v in enumerate(value):
            walk(v, m.group(1), "%s[%d]" % (path, i), errors)
        return
    m = re.match(r"dict\(str, (.*)\)$", typ)
    if m:
        if not isinstance(value, dict):
            errors.append("%s: expected a map, got %s" % (path, type(value).__name__))
            return
        for k, v in value.items():
            walk(v, m.group(1), "%s.%s" % (path, k), errors)
        return
    if typ in PRIMITIVES:
        ok = isinstance(value, PRIMITIVES[typ]) and not (typ in ("int", "float") and isinstance(value, bool))
        if not ok:
            errors.append("%s: expected %s, got %r" % (path, typ, value))
        return
    if typ in ("date", "datetime"):
        if not isinstance(value, (str, datetime.date)):
            errors.append("%s: expected a %s" % (path, typ))
        return
    cls = getattr(client, typ, None)
    if cls is None:
        errors.append("%s: unknown model %s" % (path, typ))
        return
    if not hasattr(cls, "openapi_types"):
        return
    if not isinstance(value, dict):
        # IntOrString and Quantity are "object"/"str" in the models; others must be maps
        errors.append("%s: expected an object (%s), got %r" % (path, typ, value))
        return
    by_json = {j: a for a, j in cls.attribute_map.items()}
    for k, v in value.items():
        attr = by_json.get(k)
        if attr is None:
            errors.append("%s: unknown field %r in %s" % (path, k, typ))
            continue
        walk(v, cls.openapi_types[attr], "%s.%s" % (path, k), errors)


def check_required(doc, cls, where, errors):
    """Let the client's constructors enforce required fields and enums."""
    class _Resp:
        def __init__(self, data):
            import json
            self.data = json.dumps(data, default=str)
    try:
        client.ApiClient().deserialize(_Resp(doc), cls.__name__)
    except (ValueError, TypeError) as e:
        errors.append("%s: %s" % (where, e))


def validate_file(path, objects=None):
    errors = []
    with open(path, encoding="utf-8") as f:
        try:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            return ["%s: YAML: %s" % (path, e)], 0
    for i, doc in enumerate(docs):
        where = "%s[%d]" % (path, i)
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            errors.append("%s: not a Kubernetes object (apiVersion and kind required)" % where)
            continue
        cls = find_model(doc["apiVersion"], doc["kind"])
        if cls is None:
            errors.append("%s: unknown apiVersion/kind %s %s" % (where, doc["apiVersion"], doc["kind"]))
            continue
        md = doc.get("metadata") or {}
        if not md.get("name"):
            errors.append("%s: metadata.name is required" % where)
        where = "%s %s/%s" % (path, doc["kind"], md.get("name", "?"))
        walk(doc, cls.__name__, where, errors)
        check_required(doc, cls, where, errors)
        if objects is not None:
            objects.append((path, doc))
    return errors, len(docs)


WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
ADMIN_PORTS = {"health", "metrics", 9102, 9880}
CLIENT_PORTS = {"https", 8443}


def peer_is(peer, name):
    """True when a NetworkPolicy peer selects only pods labelled app.kubernetes.io/name=name."""
    sel = (peer or {}).get("podSelector") or {}
    if (sel.get("matchLabels") or {}).get("app.kubernetes.io/name") == name:
        return True
    for e in sel.get("matchExpressions") or []:
        if e.get("key") == "app.kubernetes.io/name" and e.get("operator") == "In" and e.get("values") == [name]:
            return True
    return False


def policy(objects):
    """→ errors of the project's deployment policy over all parsed objects."""
    errors = []
    namespaces, deny, ingress_backends = set(), set(), set()
    for path, doc in objects:
        kind, md = doc.get("kind"), doc.get("metadata") or {}
        ns, where = md.get("namespace", "default"), "%s %s/%s" % (path, doc.get("kind"), md.get("name"))
        if kind in WORKLOADS:
            namespaces.add(ns)
            pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
            psc = pod.get("securityContext") or {}
            for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
                sc = c.get("securityContext") or {}
                cw = "%s container %s" % (where, c.get("name"))
                if sc.get("allowPrivilegeEscalation") is not False:
                    errors.append("%s: securityContext.allowPrivilegeEscalation must be false" % cw)
                if sc.get("readOnlyRootFilesystem") is not True:
                    errors.append("%s: securityContext.readOnlyRootFilesystem must be true" % cw)
                if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                    errors.append("%s: securityContext.capabilities.drop must hold ALL" % cw)
                if (sc.get("capabilities") or {}).get("add") or sc.get("privileged"):
                    errors.append("%s: added capabilities or privileged" % cw)
                if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
                    errors.append("%s: runAsNonRoot must be true (container or pod)" % cw)
                seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
                if seccomp not in ("RuntimeDefault", "Localhost"):
                    errors.append("%s: seccompProfile RuntimeDefault needed (container or pod)" % cw)
                names = {p.get("name") for p in c.get("ports") or []}
                for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                    port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
                    if port is not None and (port in CLIENT_PORTS or
                                             (names & {"health", "metrics"} and port not in ADMIN_PORTS)):
                        errors.append("%s: %s on port %r, where clients are; use the health/metrics "
                                      "listener" % (cw, probe, port))
        elif kind == "NetworkPolicy":
            spec = doc.get("spec") or {}
            if spec.get("podSelector") == {} and "Ingress" in (spec.get("policyTypes") or []) \
                    and not spec.get("ingress"):
                deny.add(ns)
            for rule in spec.get("ingress") or []:
                ports = {p.get("port") for p in rule.get("ports") or []}
                peers = rule.get("from") or []
                if not peers:
                    errors.append("%s: an ingress rule without 'from' admits everyone" % where)
                if ports & ADMIN_PORTS and not all(peer_is(p, "prometheus") for p in peers):
                    errors.append("%s: health/metrics ports open to more than Prometheus" % where)
                if ports & CLIENT_PORTS and not all(peer_is(p, "ingress-nginx") for p in peers):
                    errors.append("%s: the HTTPS port open to more than the Ingress controller" % where)
                if not ports:
                    errors.append("%s: an ingress rule without ports opens every port" % where)
        elif kind == "Ingress":
            for r in (doc.get("spec") or {}).get("rules") or []:
                for p in ((r.get("http") or {}).get("paths") or []):
                    ingress_backends.add(((p.get("backend") or {}).get("service") or {}).get("name"))
    for ns in sorted(namespaces - deny):
        errors.append("namespace %s: no default-deny NetworkPolicy (podSelector: {}, no ingress rules)" % ns)
    if namespaces and "hellod" not in ingress_backends:
        errors.append("no Ingress in front of the Service hellod")
    return errors


def main(argv):
    if not argv:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    files = []
    for a in argv:
        if os.path.isdir(a):
            files += sorted(os.path.join(a, n) for n in os.listdir(a) if n.endswith((".yaml", ".yml")))
        else:
            files.append(a)
    total, errors, objects = 0, [], []
    for p in files:
        e, n = validate_file(p, objects)
        total += n
        errors += e
    errors += policy(objects)
    for e in errors:
        print("validate-k8s: " + e, file=sys.stderr)
    print("validate-k8s: %d objects in %d files, %d errors (python3-kubernetes %s models)"
          % (total, len(files), len(errors), getattr(client, "__version__", "?")))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
