"""compose-policy.py: policy checks on a merged compose file (the output of
`docker-compose config`, read on stdin), for scripts/check-config.sh. It holds
the one list of hardening exceptions (EXCEPTIONS, each with its reason, the
same as deploy/README.md's table), so a new service cannot silently run with
less.

Every service:
  - has CPU and memory limits, a restart policy and a healthcheck (one-shot
    jobs, restart "no", are exempt from the last two);
  - runs as an explicit non-root user, with no-new-privileges, cap_drop ALL, no
    added capabilities and a read-only root filesystem, unless EXCEPTIONS says
    otherwise (and then exactly as it says);
  - never mounts the Docker socket, and is never privileged;
  - publishes ports only on loopback, except the edge (EDGE);
  - has no literal password or key in its environment (only *_FILE paths).

  --print-command SERVICE   print that service's command, one item a line
Exit status 1 with one line per violation."""
import re
import sys

import yaml

EDGE = {"proxy"}

# service: {"root": reason, "caps": {CAP: reason}, "writable": reason}
EXCEPTIONS = {
    "secrets": {
        "root": "gives each generated secret file to the uid of its one reader",
        "caps": {"CHOWN": "chown each file to its reader (472, 1000, 10001)",
                 "DAC_READ_SEARCH": "compare with existing files that belong to other uids"},
    },
    "promtail": {
        "root": "Docker's json-file logs are root's (0640 in 0710 directories); no capability needed",
    },
    "cadvisor": {
        "root": "some host cgroup files are readable by root only; no capability needed",
    },
    "certbot": {
        "root": "the image's Let's Encrypt state is root's",
        "caps": {"CHOWN": "install the certificate for uid 10001 (hellod, nginx)",
                 "DAC_OVERRIDE": "write into the certs volume, which uid 10001 owns"},
    },
    "elasticsearch": {
        "writable": "the image's entrypoint writes the keystore into config/ at every start",
    },
    "logstash": {
        "writable": "Logstash writes data/ (uuid, queues) and logs/ under its install directory, "
                    "and the image's entrypoint rewrites config/logstash.yml when a setting is in the environment",
    },
    "kibana": {
        "writable": "Kibana writes data/ (its uuid) and optimizer caches under its install directory",
    },
}

SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|ENCRYPTION_?KEY)$", re.I)
LOOPBACK = ("127.", "::1", "[::1]")


def is_root(user):
    u = str(user if user is not None else "").split(":")[0]
    return u in ("", "0", "root")


def port_hosts(ports):
    """→ [(host_ip or "", text)] for both short ("IP:H:C") and long syntax."""
    out = []
    for p in ports or []:
        if isinstance(p, dict):
            if p.get("published") in (None, ""):
                continue
            out.append((str(p.get("host_ip") or ""), "%s:%s" % (p.get("published"), p.get("target"))))
        else:
            parts = str(p).split("/")[0].rsplit(":", 2)
            out.append((parts[0] if len(parts) == 3 else "", str(p)))
    return out


def main(argv):
    cfg = yaml.safe_load(sys.stdin)
    services = cfg.get("services") or {}
    if len(argv) == 2 and argv[0] == "--print-command":
        cmd = services[argv[1]].get("command") or []
        print("\n".join(cmd if isinstance(cmd, list) else cmd.split()))
        return 0
    errors = []
    for name, s in sorted(services.items()):
        exc = EXCEPTIONS.get(name, {})
        limits = ((s.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        if not limits.get("cpus") or not limits.get("memory"):
            errors.append("%s: no deploy.resources.limits cpus and memory" % name)
        oneshot = str(s.get("restart", "")) in ("no", "False", "false")
        if not oneshot:
            if not s.get("restart"):
                errors.append("%s: no restart policy" % name)
            hc = s.get("healthcheck") or {}
            if not hc.get("test") or hc.get("disable"):
                errors.append("%s: no healthcheck" % name)
        # hardening
        if "no-new-privileges:true" not in (s.get("security_opt") or []):
            errors.append("%s: without no-new-privileges" % name)
        if [str(c).upper() for c in (s.get("cap_drop") or [])] != ["ALL"]:
            errors.append("%s: capabilities not dropped (cap_drop: [ALL])" % name)
        added = {str(c).upper().replace("CAP_", "") for c in (s.get("cap_add") or [])}
        extra = added - set(exc.get("caps", {}))
        if extra:
            errors.append("%s: capabilities %s added without a listed reason" % (name, sorted(extra)))
        if s.get("privileged"):
            errors.append("%s: privileged" % name)
        if is_root(s.get("user")) and "root" not in exc:
            errors.append("%s: runs as root (set user: to a non-root uid, or list the reason)" % name)
        if not s.get("read_only") and "writable" not in exc:
            errors.append("%s: root filesystem not read_only (or list the reason)" % name)
        for v in s.get("volumes") or []:
            src = v.get("source", "") if isinstance(v, dict) else str(v).split(":")[0]
            if str(src).endswith("docker.sock") or str(src).rstrip("/") in ("", "/var/run", "/run"):
                errors.append("%s: mounts the Docker socket (%s); its API is not restricted by :ro" % (name, src))
        # published ports
        if name not in EDGE:
            for host, text in port_hosts(s.get("ports")):
                if not host.startswith(LOOPBACK):
                    errors.append("%s: published on every interface (%s); only the edge may be" % (name, text))
        # secrets only as files
        env = s.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        for k, v in env.items():
            if SECRET_NAME.search(k) and v not in (None, ""):
                errors.append("%s: %s is set in the environment; pass a *_FILE path instead" % (name, k))
    for name in sorted(set(EXCEPTIONS) - set(services)):
        pass  # a profile not in this config
    for e in errors:
        print("compose-policy: " + e)
    print("compose-policy: %d services, %d problems" % (len(services), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
