"""The HTTP server: FastAPI app, routers (HTTP only), auth, web UI."""
