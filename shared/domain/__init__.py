"""The domain: a CIBA request and its life, clients' metadata, tokens, and the rules that more
than one service applies. What only one service uses lives in that service."""
