# receivers.Dockerfile: the image that runs the project's protocol receivers
# (tests/receivers/*.py) in place of Loki, Elasticsearch, Logstash and Kibana
# in the e2e stack: Debian's python3 + python3-snappy, nothing else.
FROM debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN set -eu; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends python3 python3-snappy curl >/dev/null; \
    rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*; \
    useradd --system --uid 10002 --no-create-home --home-dir /nonexistent receiver
COPY tests/receivers /receivers
COPY tests/e2e/stub_http.py /receivers/stub_http.py
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10002
WORKDIR /receivers
