"""The admin console: operators manage sites, policies, API keys, webhooks and users."""
