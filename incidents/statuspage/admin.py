from . import admin_subscriptions  # noqa: F401  (subscriber, delivery and allow-list admin)
