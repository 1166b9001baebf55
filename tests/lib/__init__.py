"""Shared helpers for the tests and the bench (imported as lib.<module>, with tests/ on sys.path):
logshipproc (the logship process wrapper, metrics parsing, wait_for), lokipb (the Loki protobuf
encoder), slowclients (hostile TLS clients). The C side's Loki protobuf decoder is lokipb.c."""
