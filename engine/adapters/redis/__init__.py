"""Redis adapter: the agent store on Redis (the only package that imports ``redis``).

``RedisAgentStore`` implements ``engine.ports.AgentStore`` with one Lua script call per
operation and pool; ``client_from_url`` builds a client for a single server, Sentinel or
Cluster; every redis-py error surfaces as ``engine.errors.StoreUnavailable``.
"""

from engine.adapters.redis.connect import client_from_url
from engine.adapters.redis.store import RedisAgentStore

__all__ = ["RedisAgentStore", "client_from_url"]
