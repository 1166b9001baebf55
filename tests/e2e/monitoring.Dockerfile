# monitoring.Dockerfile: Prometheus and Alertmanager from Debian's packages, in
# place of prom/prometheus and prom/alertmanager (not pullable here), with the
# same entrypoints, users (nobody), data directories and wget for the
# healthchecks, so the compose services run them unchanged.
#   --target prometheus | alertmanager
FROM debian:bookworm-slim AS prometheus
RUN set -eu; export DEBIAN_FRONTEND=noninteractive; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends prometheus wget >/dev/null; \
    rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*; \
    install -d -o 65534 -g 65534 /prometheus
USER 65534:65534
ENTRYPOINT ["/usr/bin/prometheus"]

FROM debian:bookworm-slim AS alertmanager
RUN set -eu; export DEBIAN_FRONTEND=noninteractive; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends prometheus-alertmanager wget >/dev/null; \
    rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*; \
    install -d -o 65534 -g 65534 /alertmanager
USER 65534:65534
ENTRYPOINT ["/usr/bin/prometheus-alertmanager"]
