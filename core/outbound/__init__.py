"""Sending: the message an attendant writes is queued with a job, and a worker sends it."""
