"""Subscribe, confirm and unsubscribe."""

urlpatterns: list = []
