"""Proof anyone can check: the standalone verifier, the receipt schema and the public verification endpoints."""
import json
from pathlib import Path

# The JSON Schema of a receipt: served at /api/v1/schemas/receipt.json and the OpenAPI document's `Receipt`.
RECEIPT_SCHEMA = json.loads((Path(__file__).parent / "receipt.schema.json").read_text(encoding="utf-8"))
