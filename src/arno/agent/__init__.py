"""The worker daemon: serves queues, runs each task in a venv (or a container) of its own.

Imports ``arno.core`` and ``arno.client`` only, never the server side or the SDK.
"""

from arno.agent._daemon import Agent, default_worker_id

__all__ = ["Agent", "default_worker_id"]
