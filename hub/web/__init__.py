"""The aiohttp web app: webhooks, health and readiness (the coordinator API comes later)."""
