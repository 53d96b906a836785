"""The API a site's backend calls with its API key: its users' consents, batch checks, erasure."""
