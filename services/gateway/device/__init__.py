"""The authentication device's pages: an aiohttp sub-application under ``PREFIX`` (app.py)."""

PREFIX = "/device"
