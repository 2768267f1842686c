"""Admin for subscribers, their deliveries and the webhook allow-list."""
