"""Background work of on-call health: the weekly report to each team's managers (beat, hourly)."""

from portal.celery import firebreak_task

from .reports import weekly_report_send, weekly_reports_due


@firebreak_task()
def weekly_reports_task() -> int:
    """Queue last week's report of every team past its local sending time; return how many."""
    due = weekly_reports_due()
    for team_id, iso_year, iso_week in due:
        weekly_report_send_task.delay(team_id, iso_year, iso_week)
    return len(due)


@firebreak_task()
def weekly_report_send_task(team_id: int, iso_year: int, iso_week: int) -> bool:
    """Mail one team's weekly report once; return whether this run sent it."""
    return weekly_report_send(team_id=team_id, iso_year=iso_year, iso_week=iso_week) is not None
