"""The Loki output tests' defaults: short batches and backoffs, so tests stay quick. A module of
its own (not conftest) because every integration area has a conftest, and a test that imports
"conftest" gets whichever area's was loaded first when the areas run together."""
FLAGS = ["--batch-wait", "50ms", "--retry-initial-backoff", "100ms", "--retry-max-backoff", "1s",
         "--shutdown-timeout", "10s"]
