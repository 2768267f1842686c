"""Writes of the chat app, one module per concern (commands, pins, channels, …)."""
