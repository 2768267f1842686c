"""Action item pages."""

urlpatterns: list = []
