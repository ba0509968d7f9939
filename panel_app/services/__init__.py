"""The rules and every change. Services flush; the request (or CLI command) commits."""
