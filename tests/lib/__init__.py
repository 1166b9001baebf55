"""Shared helpers for the integration tests (imported as lib.<module>, with tests/ on sys.path)."""
