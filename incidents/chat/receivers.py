"""Mirror what happens in the portal into the incident's channel (filled in by the chat app)."""
