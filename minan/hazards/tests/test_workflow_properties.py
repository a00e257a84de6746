"""Property test of the hazard move table: random sequences of attempted moves, by
random people, through `services.transition` never leave the table: a move either follows a row of
MOVES exactly or is refused and changes nothing, closed and cancelled are final, and no hazard
reaches acceptance or 销号 without the steps before it."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import event, given
from hypothesis import strategies as st
from PIL import Image

from minan.accounts.models import User, UserScope
from minan.core.errors import DomainError
from minan.core.tests.properties import SERVICES
from minan.duty import services as duty
from minan.hazards import services
from minan.hazards.models import Hazard, HazardEvent
from minan.hazards.workflow import MOVES, moves_from

S = Hazard.Status
FINAL = {S.CLOSED, S.CANCELLED}
# What each state needs to have passed through (the closed loop).
BEFORE = {
    S.ACCEPTED: ["submit|report_fixed"],
    S.CLOSED: ["submit|report_fixed", "accept"],
    S.REJECTED: ["submit|report_fixed"],
}


def photo() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "green").save(buffer, "JPEG")
    return SimpleUploadedFile("fix.jpg", buffer.getvalue(), content_type="image/jpeg")


@pytest.fixture(autouse=True)
def _day() -> Any:
    # A date whose deadlines stay inside the years the calendar package covers.
    with time_machine.travel(dt.datetime(2026, 9, 30, 2, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def people(make_user: Any, tree: dict[str, Any], institutions: Any, city_office: Any) -> list[User]:
    home = institutions["rc_elderly"]
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    UserScope.objects.filter(user=cadre).delete()
    duty.assign_cadre(city_office, home, cadre)
    return [
        User.objects.get(pk=cadre.pk),
        make_user("staff", roles=["institution_staff"], institution=home),
        make_user("officer", roles=["county_officer"], region=tree["rencheng"]),
        city_office,
    ]


attempts = st.lists(
    st.tuples(
        st.integers(0, 3),  # who
        # what: a named action (two of them outside the table), or the i-th move the table allows
        # from the current state, so that sequences also get far along the loop
        st.one_of(st.sampled_from([*MOVES, "reopen", ""]), st.integers(0, 3)),
        st.booleans(),  # with a reason / requirement / measures and evidence
    ),
    max_size=12,
)


@SERVICES
@given(on_the_spot=st.booleans(), tries=attempts)
def test_no_sequence_of_attempted_moves_leaves_the_table(
    people: list[User], institutions: Any, on_the_spot: bool, tries: list[tuple[int, str | int, bool]]
) -> None:
    hazard = services.report(
        people[0], institutions["rc_elderly"], source="duty_visit", category="fire", level="general",
        description="疏散通道堆放杂物", on_the_spot=on_the_spot, files=[photo()] if on_the_spot else [],
    )  # fmt: skip
    for who, what, complete in tries:
        before = Hazard.objects.get(pk=hazard.pk)
        allowed = moves_from(before.status)
        if isinstance(what, int):
            if not allowed:
                continue
            action = allowed[what % len(allowed)].action
        else:
            action = what
        events = HazardEvent.objects.filter(hazard=hazard).count()
        extra: dict[str, Any] = {}
        if complete:
            extra = {
                "comment": "理由",
                "requirement": "整改到位",
                "measures_taken": "已整改",
                "files": [photo()],
            }
        try:
            services.transition(people[who], before, action, **extra)
        except DomainError:  # refusals of every kind (NotPermitted and OutOfScope are DomainErrors)
            after = Hazard.objects.get(pk=hazard.pk)
            assert after.status == before.status
            assert HazardEvent.objects.filter(hazard=hazard).count() == events
            continue
        after = Hazard.objects.get(pk=hazard.pk)
        move = MOVES[action]
        assert before.status in move.sources and before.status not in FINAL
        assert after.status == move.target
        last = HazardEvent.objects.filter(hazard=hazard).order_by("-id").first()
        assert last is not None and (last.action, last.from_status, last.to_status) == (
            action,
            before.status,
            move.target,
        )

    # The whole history is a path through the table, starting at the report.
    chain = list(HazardEvent.objects.filter(hazard=hazard).order_by("id"))
    assert chain[0].action in {"report", "report_fixed"} and chain[0].from_status == ""
    for previous, step in zip(chain, chain[1:], strict=False):
        assert step.from_status == previous.to_status
        assert step.from_status in MOVES[step.action].sources and step.to_status == MOVES[step.action].target
    final = Hazard.objects.get(pk=hazard.pk)
    assert final.status == chain[-1].to_status
    event(f"ended {final.status}")
    actions = [e.action for e in chain]
    for needed in BEFORE.get(final.status, []):
        assert any(a in needed.split("|") for a in actions), (final.status, actions)
    if final.status in {S.ACCEPTED, S.CLOSED}:
        assert final.accepted_by_id is not None and final.accepted_by_id != final.submitted_by_id
