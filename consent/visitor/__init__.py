"""What visitors reach: the widget's public API (CORS) and the pages a visitor opens (receipts, policies, own data)."""
