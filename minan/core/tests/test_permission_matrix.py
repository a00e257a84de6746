"""The scoping guarantee, route by route: every scoped page and API route x every role (and anonymous)
x one object inside and one outside the role's scope.

Generated from the URL resolver (pages) and the DRF router (API, each action and method): a new route is
covered without editing this file. Which role may open a route comes from the role's permissions
(`minan.accounts.roles`): the permission the scoping base classes check for a GET on the route's model
(`scope_action` / `action_scope`, else view). Per route:

- a list (no object in the URL) answers 200 to every role holding that permission and 403 to the others;
  a listing shows the inside place's row of its model to every role that opens it (API: its id; pages
  and files: the row's own texts or links to its pages, outside the page's choice lists, xlsx/zip members
  included) and never the outside place's rows (searched by the place's unique tag and region name in
  the body; API: also the JSON ids);
- an object route opens the inside object for every role holding that permission (200, or a redirect
  to another page of the same object) and answers 403 to the others; it answers 404 for the outside
  object (pages and API alike) to every role that holds the permission the view checks or that reached
  the inside object, 403 to the others, and never serves it;
- every write method and extra action on the outside object is refused (403/404/405), the row is
  unchanged afterwards, and no audit event other than `permission.denied` was written;
- anonymous gets the login redirect (pages) or 401/403 (API);
- and, so that none of this holds vacuously, some role opens (or writes to) the inside object.

Data: three places built once per module in one transaction that is rolled back at the end. Region roles
are scoped to 任城区 (inside: 矩阵甲 in 古槐街道; outside: 矩阵丙 in 邹城市). Roles whose scope is one
institution have the 矩阵甲 institution (outside: 矩阵乙, another institution of 任城区, and 矩阵丙):
institution staff by a grant, the responsible cadre through its duty assignment there, the expert through
its inspection task there; the supervision group member has 任城区 through its group.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from rest_framework.test import APIClient
from rest_framework.views import APIView

from conftest import login_client
from minan.accounts.roles import CADRE, EXPERT, INSTITUTION_STAFF, ROLE_PERMISSIONS, SUPERVISION_MEMBER
from minan.core.api import ACTION_FOR_METHOD
from minan.core.audit.models import AuditEvent
from minan.core.scoping import permission_for, scope_entries
from minan.core.tests import factories
from minan.core.tests.factories import Place

ANONYMOUS = "anonymous"
# Roles whose scope follows a record of the inside place instead of a grant: the responsible cadre its
# duty assignment (the 矩阵甲 institution), the expert its inspection task there (the institution), the
# supervision group member its group's county (任城区).
DERIVED = (CADRE, EXPERT, SUPERVISION_MEMBER)
WRITE_METHODS = ("post", "put", "patch", "delete")
CHOICES = re.compile(r"<(select|datalist)\b.*?</\1>", re.DOTALL | re.IGNORECASE)

# The URL's object is not the view's model: which row `pk` names (model label of Place.objects/extra).
PARAM_OBJECT = {
    "duty:visit_new": "institutions.institution",
    "duty:visit_photo": "duty.dutyvisitphoto",
    "hazards:file": "hazards.hazardfile",
    "hazards:extension_decide": "hazards.extension",
    "hazards:pause_decide": "hazards.pause",
    "inspections:inspection_file": "inspections.answerphoto",
}
# Values for URL parameters that name no object of a place.
PARAM_VALUES: dict[str, Any] = {"action": "disable", "arg": "1", "who": "inspector", "format": "json"}

# Routes the matrix cannot generate, with the reason.
NOT_GENERATED = {
    "institutions:import_progress": "names an import job (a cache key of the importing user), not a row; "
    "institutions/tests cover another user's job id",
    "institutions:import_status": "names an import job (a cache key of the importing user), not a row",
}

# Collection routes whose body is not a listing of the model's rows (figures, forms, templates, files of
# another shape): they must still never show the outside place, but need not show the inside one.
NOT_A_LISTING = {
    "core:home": "figures only",
    "duty:coverage": "figures: unassigned institutions, cadre loads, coverage per county",
    "accounts:user_create": "a form",
    "institutions:create": "a form",
    "institutions:import": "a form",
    "institutions:import_template": "an empty template",
    "institutions:codes_pdf": "PDF (compressed text)",
    "duty:group_new": "a form",
    "duty:mine": "the signed-in cadre's own institutions",
    "duty:import": "a form",
    "hazards:new": "a form",
    "hazards:metrics": "figures only",
    "hazards:major": "major hazards only (the place's hazard is general)",
    "inspections:figures": "figures only",
    "inspections:figures_export": "figures only",
    "inspections:inspection_start": "a form",
    "inspections:plan_new": "a form",
    "inspections:task_mine": "the signed-in user's own tasks",
    "firewatch:figures": "figures only",
    "firewatch:device_create": "a form",
    "firewatch:device_import": "a form",
    "firewatch:device_import_template": "an empty template",
    "notify:channel_new": "a form",
    "audit:list": "audit events, not the places' rows",
    "audit:export": "audit events, not the places' rows",
    "api:hazardmetrics-list": "figures only",
    "api:inspectionfigures-list": "figures only",
    "api:firewatchfigures-list": "figures only",
    "api:alarmboard-list": "board counts",
    "api:auditevent-list": "audit events, not the places' rows",
}


# --- routes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    pattern: str
    name: str  # namespaced URL name
    params: tuple[str, ...]
    view: Any
    model: Any
    methods: tuple[str, ...]  # lower-case HTTP methods the route answers
    api: bool
    lookup: str  # the attribute the object parameter carries (pk or code)
    # API: HTTP method -> viewset handler
    view_actions: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def object_param(self) -> str | None:
        return next((p for p in self.params if p in {"pk", "code", "job"}), None)

    def __str__(self) -> str:
        return f"{self.name}[{self.pattern}]"


def _walk(resolver: URLResolver, prefix: str = "", ns: str = "") -> Iterator[tuple[str, str, URLPattern]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{ns}{entry.namespace}:" if entry.namespace else ns
            yield from _walk(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), (ns + entry.name) if entry.name else "", entry


def _route(pattern: str, name: str, entry: URLPattern) -> Route | None:
    callback = entry.callback
    view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view is None or not getattr(view, "scoped", False):
        return None
    model = getattr(view, "model", None) or getattr(getattr(view, "queryset", None), "model", None)
    params = tuple(entry.pattern.regex.groupindex)
    if issubclass(view, APIView):
        actions: dict[str, str] = callback.actions  # type: ignore[attr-defined]
        methods = tuple(actions)
        lookup = getattr(view, "lookup_field", "pk")
        return Route(pattern, name, params, view, model, methods, True, lookup, dict(actions))
    methods = tuple(m for m in ("get", *WRITE_METHODS) if m in view.http_method_names and hasattr(view, m))
    return Route(pattern, name, params, view, model, methods, False, "pk" if "pk" in params else "code")


def scoped_routes() -> list[Route]:
    found = [_route(p, n, e) for p, n, e in _walk(get_resolver())]
    return [r for r in found if r is not None and r.name not in NOT_GENERATED]


ROUTES = scoped_routes()


def test_not_generated_routes_exist() -> None:
    names = {n for _p, n, _e in _walk(get_resolver())}
    assert set(NOT_GENERATED) <= names
    assert set(NOT_A_LISTING) <= names | {"core:home"}


# --- data ---------------------------------------------------------------------------------------------


@dataclass
class World:
    places: dict[str, Place]
    clients: dict[str, APIClient]
    users: dict[str, Any]

    def inside(self, role: str) -> Place:
        return self.places["a"]

    def outside(self, role: str) -> list[Place]:
        """The places outside the role's scope; the first is the one object routes are tried with."""
        if all(entry.institution_id is not None for entry in scope_entries(self.users[role])):
            return [self.places["b"], self.places["c"]]  # scoped to the 矩阵甲 institution only
        return [self.places["c"]]


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[World]:
    """Three places and one signed-in client per role, in a transaction rolled back after the module."""
    # Clients sign in without a password: the users' passwords need not be hashed slowly.
    overrides = override_settings(
        MEDIA_ROOT=str(tmp_path_factory.mktemp("matrix-media")),
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    overrides.enable()
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            tree = factories.build_tree()
            town_b = factories.Region.objects.create(
                code="370811002", name="安居街道", level="township", parent=tree["rencheng"],
                region_path=tree["rencheng"].region_path + "370811002/",
            )  # fmt: skip
            template = factories.checklist()
            homes = {
                "a": factories.make_institution("矩阵甲敬老院", tree["rc_town"]),
                "b": factories.make_institution("矩阵乙敬老院", town_b),
                "c": factories.make_institution("矩阵丙敬老院", tree["zc_town"]),
            }
            users: dict[str, Any] = {}
            clients: dict[str, APIClient] = {ANONYMOUS: APIClient()}
            for role in ROLE_PERMISSIONS:
                if role == INSTITUTION_STAFF:
                    users[role] = factories.make_person(
                        f"mx-{role}", region=tree["rc_town"], institution=homes["a"], roles=(role,)
                    )
                else:
                    users[role] = factories.make_person(
                        f"mx-{role}", region=tree["rencheng"], roles=(role,), granted=role not in DERIVED
                    )
            # The scope of the roles in DERIVED follows records of the inside place, as in real use; the
            # institution's own staff lead its inspection: the lead-only routes reach it.
            places = {
                "a": factories.make_place(
                    "矩阵甲",
                    homes["a"],
                    template=template,
                    lead=users[INSTITUTION_STAFF],
                    cadre=users[CADRE],
                    assignee=users[EXPERT],
                ),
                "b": factories.make_place("矩阵乙", homes["b"], template=template),
                "c": factories.make_place("矩阵丙", homes["c"], template=template),
            }
            factories.cover_county(
                places["a"].objects["duty.supervisiongroup"], tree["rencheng"], users[SUPERVISION_MEMBER]
            )
            for role, user in users.items():
                user.refresh_from_db()  # scope entries read afresh
                clients[role] = login_client(APIClient(), user)
            yield World(places=places, clients=clients, users=users)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            overrides.disable()


# --- requests -----------------------------------------------------------------------------------------


def object_label(route: Route) -> str:
    return PARAM_OBJECT.get(route.name) or route.model._meta.label_lower


def object_of(route: Route, place: Place) -> Any:
    label = object_label(route)
    return place.objects.get(label) or place.extra[label]


def url_for(route: Route, place: Place) -> str:
    kwargs: dict[str, Any] = {}
    for param in route.params:
        if param in {"pk", "code"}:
            kwargs[param] = getattr(object_of(route, place), route.lookup)
        elif param == "item":
            kwargs[param] = place.extra["inspections.checklistitem"].pk
        elif param == "job":
            kwargs[param] = uuid.uuid4()
        else:
            kwargs[param] = PARAM_VALUES[param]
    return reverse(route.name, kwargs=kwargs)


def send(client: APIClient, method: str, url: str, route: Route) -> Any:
    if route.api and method != "get":
        return getattr(client, method)(url, {}, format="json")
    return getattr(client, method)(url)


def body_text(response: Any) -> str:
    """The response's text, members of an xlsx/zip included; PDFs (compressed) read as empty."""
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    if raw.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            return "\n".join(archive.read(n).decode("utf-8", "ignore") + n for n in archive.namelist())
    if raw.startswith(b"%PDF"):
        return ""
    return raw.decode("utf-8", "ignore")


def markers(place: Place) -> list[str]:
    return [place.tag, place.region.name]


def row_markers(place: Place, label: str, page: bool) -> list[str]:
    """What the place's row of the listed model puts into a listing: its own texts that carry the tag (a
    hazard's description, a device's name; a region: its name) and, on a page, links to its pages; else
    the tag. Unlike `markers`, not the region's name or the institution's name for other rows: filter
    choices, headers and the rows of other models show them on an empty list too."""
    row = place.objects.get(label)
    if row is None:
        return [place.tag]
    own = [
        value
        for f in type(row)._meta.concrete_fields
        if isinstance(value := getattr(row, f.attname), str) and place.tag in value and value != place.tag
    ]
    if label == "regions.region":
        own.append(place.region.name)
    links = [
        f'"{url_for(r, place)}'
        for r in ROUTES
        if page and not r.api and r.object_param and "get" in r.methods and object_label(r) == label
    ]
    return own + links or [place.tag]


def without_choices(text: str) -> str:
    """The page without its choice lists (a filter's <select> names the institutions in scope even when
    the listing below it is empty)."""
    return CHOICES.sub("", text)


def api_ids(response: Any, route: Route) -> set[str] | None:
    if not response.get("Content-Type", "").startswith("application/json"):
        return None
    data = response.json()
    rows = data.get("results") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        return None
    key = "code" if route.lookup == "code" else "id"
    return {str(row.get(key)) for row in rows if isinstance(row, dict)}


def last_event_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


# --- the matrix -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route(world: World, route: Route) -> None:
    if route.object_param is None:
        check_collection(world, route)
    else:
        check_object(world, route)


def check_anonymous(world: World, route: Route, url: str) -> None:
    client = world.clients[ANONYMOUS]
    for method in route.methods:
        response = send(client, method, url, route)
        if route.api:
            assert response.status_code in {401, 403}, (method, url, response.status_code)
        else:
            login = reverse(settings.LOGIN_URL)
            assert response.status_code == 302 and response["Location"].startswith(login), (
                method, url, response.status_code,
            )  # fmt: skip


def check_collection(world: World, route: Route) -> None:
    url = url_for(route, world.places["a"])
    check_anonymous(world, route, url)
    if "get" not in route.methods:
        return  # a POST-only collection action takes no object: nothing of another place to reach
    shown_inside = False
    for role in ROLE_PERMISSIONS:
        response = world.clients[role].get(url)
        expected = 200 if may_open(world, role, route) else 403
        assert response.status_code == expected, (role, url, response.status_code, "expected", expected)
        if response.status_code != 200:
            continue
        text = body_text(response)
        inside, outside = world.inside(role), world.outside(role)
        for place in outside:
            for marker in markers(place):
                assert marker not in text, f"{url} shows {marker} ({place.tag}) to {role}"
        ids = api_ids(response, route) if route.api else None
        if ids is not None and route.model is not None:
            label = route.model._meta.label_lower
            for place in outside:
                if label in place.objects:
                    outside_id = str(getattr(place.objects[label], route.lookup))
                    assert outside_id not in ids, f"{url} lists {label} {outside_id} of {place.tag} to {role}"
        if route.name in NOT_A_LISTING:
            continue
        label = route.model._meta.label_lower if route.model is not None else ""
        if ids is not None and label in inside.objects:
            shown = str(getattr(inside.objects[label], route.lookup)) in ids
        else:
            page = response.get("Content-Type", "").startswith("text/html")
            shown = any(m in without_choices(text) for m in row_markers(inside, label, page))
        assert shown, (
            f"{url} does not show the inside place's rows to {role}; a listing? else add to NOT_A_LISTING"
        )
        shown_inside = True
    if route.name not in NOT_A_LISTING:
        assert shown_inside, f"{url}: no role may open this listing"


def needed_permission(route: Route, method: str) -> str:
    """The permission the scoping base classes check before reading the object."""
    if route.api:
        handler = route.view_actions[method]
        action = getattr(route.view, "action_scope", {}).get(handler) or ACTION_FOR_METHOD[method.upper()]
    else:
        action = route.view.scope_action
    return permission_for(route.model, action)


def may_open(world: World, role: str, route: Route) -> bool:
    """Whether the role's permissions let it open the route (GET): its own objects answer 200, its lists
    show its rows; without the permission the answer is a 403. A route without a model (the home page)
    checks no permission but the login."""
    if route.model is None:
        return True
    return bool(world.users[role].has_perm(needed_permission(route, "get")))


def opens(response: Any, url: str) -> bool:
    """The object route served its object: 200, or a redirect to another page of the same object (a run
    page sends everyone but the lead of a draft to the inspection's detail page)."""
    if response.status_code == 200:
        return True
    if response.status_code != 302:
        return False
    here, there = resolve(url), resolve(urlsplit(response["Location"]).path)
    same_object = {k: str(v) for k, v in here.kwargs.items() if k in {"pk", "code"}}
    return (
        there.namespace == here.namespace
        and there.url_name != here.url_name
        and {k: str(v) for k, v in there.kwargs.items() if k in same_object} == same_object
        and bool(same_object)
    )


def reaches(status: int) -> bool:
    """The route found its object (a page, a redirect, a refusal of the input), not a 403/404/405."""
    return status not in {403, 404, 405}


def check_object(world: World, route: Route) -> None:
    check_anonymous(world, route, url_for(route, world.places["c"]))
    reached_inside, probes = False, []
    for role in ROLE_PERMISSIONS:
        client = world.clients[role]
        inside_url = url_for(route, world.inside(role))
        outside = world.outside(role)[0]
        outside_url = url_for(route, outside)
        target = object_of(route, outside)
        for method in route.methods:
            probe = None
            if method == "get":
                # Every role whose permissions let it open the route opens its own object; the others get 403.
                response = send(client, method, inside_url, route)
                probe = response.status_code
                if may_open(world, role, route):
                    assert opens(response, inside_url), (role, inside_url, probe, "expected 200")
                else:
                    assert probe == 403, (role, inside_url, probe, "expected 403")
                reached_inside |= reaches(probe)
                probes.append((role, method, probe))
            elif not reached_inside:
                # The inside object first (a write rolled back), until some role reaches it: proves the route
                # finds its object, so that the outside 404 is not vacuous.
                with transaction.atomic():
                    probe = send(client, method, inside_url, route).status_code
                    transaction.set_rollback(True)
                reached_inside = reaches(probe)
                probes.append((role, method, probe))
            before, since = factories.snapshot(target), last_event_id()
            response = send(client, method, outside_url, route)
            status = response.status_code
            assert status in {403, 404, 405}, (role, method, outside_url, status)
            if (probe is not None and reaches(probe)) or world.users[role].has_perm(
                needed_permission(route, method)
            ):
                # Whoever may open such objects learns nothing from the outside one: 404, like a missing row
                # (405: a method the viewset refuses for every object).
                assert status in {404, 405}, (role, method, outside_url, status, "inside answered", probe)
            if method == "get":
                continue
            assert factories.snapshot(target) == before, (role, method, outside_url, "changed the row")
            written = AuditEvent.objects.filter(id__gt=since).exclude(action="permission.denied")
            assert not written.exists(), (
                role,
                method,
                outside_url,
                list(written.values_list("action", flat=True)),
            )
    assert reached_inside, (
        f"{route}: no role reaches the inside object; does the URL name another row? {probes}"
    )


def test_matrix_covers_every_scoped_route() -> None:
    """Every scoped route is generated or listed with a reason, and every object route names its model."""
    scoped = {n for p, n, e in _walk(get_resolver()) if _route(p, n, e) is not None}
    assert scoped == {r.name for r in ROUTES} | set(NOT_GENERATED)
    assert len(ROUTES) > 150
    assert not [str(r) for r in ROUTES if r.object_param and r.model is None]
    assert not [str(r) for r in ROUTES if not r.methods]
