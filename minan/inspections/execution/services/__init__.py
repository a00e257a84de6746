"""Writes of an inspection in the field: start, answer item by item, photos, signatures, submit
(`lifecycle`, `answers`), and who may perform it with the scope an assigned task brings (`access`).

Rules:
- who performs each kind (`performer_problem`): a duty check by the institution's responsible cadre;
  a cross inspection by someone whose home county is not the inspected one; an expert survey by an
  active expert of the roster; a self-inspection by the institution's own staff; sector inspections
  and video patrols by anyone who may inspect and holds the institution in scope.
- an inspection keeps the checklist version it started with (`Inspection.template`).
- answers are saved one by one while the inspection is a draft (a dropped connection loses at most
  the answer being typed); only the inspector who leads it writes them.
- submitting checks every required answer first and names the missing ones; then, in one
  transaction, scores it, creates one hazard per failed item (or links the failure to an open hazard
  the inspector chose), closes the task and records the audit event. A refused submit writes nothing.

Concurrency: submit locks the inspection row and moves it draft → submitted with a conditional
UPDATE; two submits of the same inspection give one result and one set of hazards.
"""

from .access import grant, performer_problem, release
from .answers import MAX_PHOTOS_PER_ITEM, add_photos, answer, exif_time, judge
from .lifecycle import PASS_SHARE, cancel, is_major, missing_answers, score, start, submit

__all__ = [
    "MAX_PHOTOS_PER_ITEM",
    "PASS_SHARE",
    "add_photos",
    "answer",
    "cancel",
    "exif_time",
    "grant",
    "is_major",
    "judge",
    "missing_answers",
    "performer_problem",
    "release",
    "score",
    "start",
    "submit",
]
