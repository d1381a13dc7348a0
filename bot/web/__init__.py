"""Web pages and webhooks served by the aiohttp application."""
