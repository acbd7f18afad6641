"""Outbound approval channels: who is told that a tool call waits for a decision."""
