"""The ledger: decisions checked and signed, written into each site's hash chain, with receipts and checkpoints."""
