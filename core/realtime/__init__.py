"""Realtime: the bus that carries changes between core replicas, and the websocket hub."""
