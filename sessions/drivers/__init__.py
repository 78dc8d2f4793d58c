"""Drivers: how a session host talks to WhatsApp (neonize) or to the simulated WhatsApp (sim)."""
