"""Inspection plans and the tasks they generate.

A plan names a checklist family, an inspection kind, the institutions it covers and a cadence. The
generator makes one task per covered institution and period; a task is due on the period's last
working day, or `due_working_days` working days after the period starts (never after the period's last
working day). Cadence "class" takes each institution's risk class: its minimum number of on-site
inspections a year gives the shortest listed period that meets it (1 → yearly, 2 → half-yearly,
3–4 → quarterly, 5–12 → monthly, 13–52 → weekly); an institution without a class gets the default
class, else the floor of one inspection a year.

Rules:
- `generate()` is idempotent: tasks are inserted with `bulk_create(ignore_conflicts=True)` against the
  unique (plan, institution, period_start), so any number of runs and workers make each task once.
- An edit of a plan applies from the next period: tasks already generated keep their period and due
  date, and while an institution has a task of the plan covering today, no task of another period is
  made for it (a new cadence starts when the current period ends). For cadence "class" a stricter class
  (a shorter period) starts at once. An institution newly covered gets its task for the current period.
- Tasks of institutions the plan no longer covers (or that stopped operating) that are open or missed
  and not started are cancelled at the next generation; so are a deactivated plan's open tasks.
- Assignment moves the managed scope an assignment brings (`execution.grant` / `execution.release`).
  Automatic assignment picks, per task, the least-loaded eligible person on the task's due day under a
  daily cap (`MINAN_INSPECTION_DAILY_CAP`); a duty check always goes to the institution's responsible
  cadre (nobody else may do it), a self-inspection to nobody (the institution's staff do it). Tasks
  nobody can take stay unassigned and are listed as such; later runs try again.
- `flag_missed()` marks open tasks past their due day missed (never closed: they can still be done)
  and sends reminders once each, claimed with a conditional UPDATE of `escalation_step`: on the first
  working day after the due day to the assignee (the institution's staff for a self-inspection) and the
  responsible cadre; `MISSED_COUNTY_AFTER` working days after it also to the county officers.
"""

from .assignment import CROSS_ROLES, SECTOR_ROLES, assign, auto_assign, candidates
from .editing import ACTIVE, MAX_DUE_WORKING_DAYS, PLAN_FIELDS, deactivate, save_plan, targets
from .generation import generate, generate_now
from .missed import MISSED_COUNTY_AFTER, SWEEP_CHUNK, flag_missed, missed_step
from .periods import HALF_YEARLY, PERIODS_PER_YEAR, class_cadence, due_date, periods

__all__ = [
    "ACTIVE",
    "CROSS_ROLES",
    "HALF_YEARLY",
    "MAX_DUE_WORKING_DAYS",
    "MISSED_COUNTY_AFTER",
    "PERIODS_PER_YEAR",
    "PLAN_FIELDS",
    "SECTOR_ROLES",
    "SWEEP_CHUNK",
    "assign",
    "auto_assign",
    "candidates",
    "class_cadence",
    "deactivate",
    "due_date",
    "flag_missed",
    "generate",
    "generate_now",
    "missed_step",
    "periods",
    "save_plan",
    "targets",
]
