"""The desk's domain spine: the conversation state machine, the change set of a unit of work,
durable jobs, routing (departments, assignment, presence)."""
