"""compose-policy.py: policy checks on a merged compose file (the output of
`docker-compose config`, read on stdin), for scripts/check-config.sh:
every service has CPU and memory limits (deploy.resources.limits), a restart
policy and a healthcheck (one-shot jobs, restart "no", are exempt from the
last two), and every service we build runs read-only with no-new-privileges.

  --print-command SERVICE   print that service's command, one item a line
Exit status 1 with one line per violation."""
import sys

import yaml


def main(argv):
    cfg = yaml.safe_load(sys.stdin)
    services = cfg.get("services") or {}
    if len(argv) == 2 and argv[0] == "--print-command":
        cmd = services[argv[1]].get("command") or []
        print("\n".join(cmd if isinstance(cmd, list) else cmd.split()))
        return 0
    errors = []
    for name, s in sorted(services.items()):
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
        if "build" in s:
            if not s.get("read_only"):
                errors.append("%s: built here but not read_only" % name)
            if "no-new-privileges:true" not in (s.get("security_opt") or []):
                errors.append("%s: built here but without no-new-privileges" % name)
    for e in errors:
        print("compose-policy: " + e)
    print("compose-policy: %d services, %d problems" % (len(services), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
