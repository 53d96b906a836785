"""What every blueprint's requests pass through.

Security headers, rate limits, the request log, client addresses, bearer tokens, public links, JSON bodies.
"""
