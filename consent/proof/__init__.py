"""Proof anyone can check: the standalone verifier, the receipt schema and the public verification endpoints."""
