"""The HTTP gateway: intake, agent desktops and supervisors over HTTP with bearer tokens.

``app.create_app`` builds the ASGI application (FastAPI) from its dependencies
(``deps.Gateway``); ``consumers/gateway.py`` is the composition root that serves it.
"""
