"""The gateway's Postgres implementations of the ports its handlers declare; wired in services/gateway/__main__.py."""
