"""hellod's TLS: versions, ciphers, the self-signed certificate, SIGHUP reload without dropping connections."""
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import threading

import pytest

from hellodlib import wait_for


def tls11_client_ctx():
    """A client that offers only TLS 1.1 (OpenSSL 3 needs security level 0 for it)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def test_tls11_client_can_speak_tls11(tmp_path):
    """Guard for the next test: our TLS 1.1 client really completes a TLS 1.1
    handshake with a server that allows it, so a refusal means hellod refused."""
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=t",
                    "-keyout", str(key), "-out", str(crt), "-days", "1"],
                   check=True, capture_output=True)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.minimum_version = ssl.TLSVersion.TLSv1_1
    sctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    sctx.load_cert_chain(str(crt), str(key))
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    got = {}

    def serve():
        c, _ = lsock.accept()
        try:
            with sctx.wrap_socket(c, server_side=True) as t:
                got["version"] = t.version()
        except ssl.SSLError as e:
            got["error"] = e

    th = threading.Thread(target=serve)
    th.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with tls11_client_ctx().wrap_socket(raw) as t:
            assert t.version() == "TLSv1.1"
    th.join(5)
    lsock.close()
    assert got.get("version") == "TLSv1.1", got


def test_tls11_refused(hellod):
    before = hellod.metrics().get("hellod_tls_handshake_failures_total", 0)
    with socket.create_connection(("127.0.0.1", hellod.tls_port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError) as ei:
            tls11_client_ctx().wrap_socket(raw).close()
    # the server said no (a protocol_version alert), not our own client
    assert ei.value.reason in ("TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL"), ei.value
    after = wait_for(lambda: hellod.metrics()["hellod_tls_handshake_failures_total"] > before, 5)
    assert after, "handshake failure not counted"
    assert hellod.get("/healthz")[0] == 200


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls12_and_tls13_accepted(hellod, version):
    ctx = hellod.client_ctx()
    ctx.minimum_version = ctx.maximum_version = version
    s = hellod.tls_socket(ctx=ctx)
    negotiated = s.version()
    assert negotiated == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    s.sendall(b"GET /helloworld HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
    s.close()
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b'{"message":"Hello World"}')
    line = hellod.wait_log("request", tls_version=negotiated)
    assert line["tls"] is True


def test_weak_tls12_ciphers_refused(hellod):
    ctx = hellod.client_ctx()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("AES128-SHA:AES256-SHA:ECDHE-ECDSA-AES128-SHA")  # no AEAD / no forward secrecy
    with pytest.raises(ssl.SSLError):
        hellod.tls_socket(ctx=ctx).close()


def test_self_signed_certificate(hellod):
    line = hellod.wait_log("generated a self-signed certificate; use --cert/--key in production")
    assert line["level"] == "warn" and line["generated"] is True
    key = os.path.join(hellod.state, "hellod-selfsigned.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    out = subprocess.run(["openssl", "x509", "-in", hellod.cert, "-noout", "-text"],
                         check=True, capture_output=True, text=True).stdout
    assert "ASN1 OID: prime256v1" in out or "NIST CURVE: P-256" in out
    assert "DNS:localhost" in out and "IP Address:127.0.0.1" in out
    # the verifying client used in every other test checks the SAN against "localhost";
    # and the IP SAN works too
    ctx = hellod.client_ctx()
    raw = socket.create_connection(("127.0.0.1", hellod.tls_port), timeout=5)
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        assert s.version() in ("TLSv1.2", "TLSv1.3")


def test_self_signed_reused_on_restart(hellod_factory):
    h = hellod_factory(name="keep")
    first = open(h.cert, "rb").read()
    assert h.stop() == 0
    h.start()
    assert open(h.cert, "rb").read() == first
    line = h.wait_log("using the self-signed certificate; use --cert/--key in production")
    assert line["generated"] is False


def make_cert(d, cn):
    key, crt = d / f"{cn}.key", d / f"{cn}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={cn}",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(crt), "-days", "2"], check=True, capture_output=True)
    return crt, key


def peer_cn(sock):
    cert = sock.getpeercert()
    return dict(x[0] for x in cert["subject"])["commonName"]


def test_sighup_reloads_certificate_without_dropping_connections(hellod_factory, tmp_path):
    a_crt, a_key = make_cert(tmp_path, "cert-a")
    b_crt, b_key = make_cert(tmp_path, "cert-b")
    live_crt, live_key = tmp_path / "live.crt", tmp_path / "live.key"
    shutil.copy(a_crt, live_crt)
    shutil.copy(a_key, live_key)
    h = hellod_factory("--cert", str(live_crt), "--key", str(live_key))

    # trust both certificates
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(a_crt.read_bytes() + b_crt.read_bytes())
    h.ca = str(bundle)
    ctx = h.client_ctx()

    old = h.conn(ctx=ctx)
    old.request("GET", "/helloworld")
    assert old.getresponse().read() == b'{"message":"Hello World"}'
    assert peer_cn(old.sock) == "cert-a"

    # certbot-style renewal: new files in place, then SIGHUP
    shutil.copy(b_crt, live_crt)
    shutil.copy(b_key, live_key)
    h.signal(signal.SIGHUP)
    h.wait_log("certificate reloaded")

    new = h.conn(ctx=ctx)
    new.request("GET", "/helloworld")
    assert new.getresponse().status == 200
    assert peer_cn(new.sock) == "cert-b"
    new.close()

    # the connection opened before the reload still works, on its old certificate
    old.request("GET", "/helloworld")
    r = old.getresponse()
    assert r.status == 200 and r.read() == b'{"message":"Hello World"}'
    assert peer_cn(old.sock) == "cert-a"
    old.close()

    # a broken renewal is refused and the current certificate stays in use
    live_key.write_text("not a key\n")
    h.signal(signal.SIGHUP)
    h.wait_log("certificate reload failed; keeping the old one")
    c = h.conn(ctx=ctx)
    c.request("GET", "/healthz")
    assert c.getresponse().status == 200
    assert peer_cn(c.sock) == "cert-b"
    c.close()
    m = h.metrics()
    assert m['hellod_tls_certificate_reloads_total{result="ok"}'] == 1
    assert m['hellod_tls_certificate_reloads_total{result="error"}'] == 1
    assert h.stop() == 0


@pytest.mark.parametrize("tickets,reused", [("on", True), ("off", False)])
def test_session_resumption_switch(hellod_factory, tickets, reused):
    h = hellod_factory(f"--tls-session-tickets={tickets}")
    ctx = h.client_ctx()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    s = h.tls_socket(ctx=ctx)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    while s.recv(4096):
        pass
    sess = s.session
    s.close()
    raw = socket.create_connection(("127.0.0.1", h.tls_port), timeout=5)
    with ctx.wrap_socket(raw, server_hostname="localhost", session=sess) as s2:
        assert s2.session_reused is reused
