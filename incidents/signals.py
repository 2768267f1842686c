"""Extension points of the incidents domain, for apps that follow it (chat mirroring).

Sent inside the writing transaction: a receiver that acts outside the database must defer its
work with `transaction.on_commit`, so a rolled-back change is never announced.
"""

from django.dispatch import Signal

# A timeline event was recorded; kwargs: `event` (TimelineEvent).
timeline_recorded = Signal()
