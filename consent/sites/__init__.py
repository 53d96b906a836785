"""Sites: their configuration (import, export, lookup), the config the widget is served, webhooks and their targets."""
