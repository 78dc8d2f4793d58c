"""The simulated WhatsApp: a loopback service that stands in for WhatsApp in demos, tests and
benchmarks (``server``), and the protocol its linked devices speak (``protocol``)."""
