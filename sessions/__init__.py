"""sessions: what a WhatsApp session is — the gateway ⇄ core wire contract, the session state
machine, drivers (neonize, sim) and credential stores. Core imports only the models from here.
"""
