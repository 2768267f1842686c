"""Public pages, Statuspage v2 JSON and feeds."""

urlpatterns: list = []
