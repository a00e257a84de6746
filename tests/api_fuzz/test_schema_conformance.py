"""schemathesis against the live OpenAPI schema, as two roles.

The app runs in-process over WSGI on the demo data set (every app's rows, with the nulls, blanks and
enum values real use produces). Every operation of `/api/schema/` gets generated requests as a city
safety office user and as a county officer, each with its own API token. Every answer to a valid
request must not be a 5xx, carry the declared content type, and match the declared response schema;
invalid requests (schemathesis' negative mode) are mixed in and must never get a 5xx.

Bounded for CI: 2 × MINAN_FUZZ_EXAMPLES generated requests per operation and role (default 5, drawn
from valid ones, one on a real row for operations with a path parameter, and invalid ones), and the
whole run must finish within MINAN_FUZZ_BUDGET seconds (default 600; it takes 2-4 minutes on two
cores). Derandomized, so a CI failure replays the same way; MINAN_FUZZ_DERANDOMIZE=0 explores new
inputs on each run.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any, cast

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from werkzeug.test import Client

EXAMPLES = int(os.environ.get("MINAN_FUZZ_EXAMPLES", "5"))
BUDGET = float(os.environ.get("MINAN_FUZZ_BUDGET", "600"))
DERANDOMIZE = os.environ.get("MINAN_FUZZ_DERANDOMIZE", "1") != "0"
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]
NO_5XX = [not_a_server_error]
# The demo accounts (minan demo-data): a city safety office user and a county officer.
ROLES = {"city_office": "city_office", "county_officer": "rencheng"}
DEMO_PASSWORD = "Minan@2026"


@pytest.fixture
def wsgi_app(db: Any) -> Any:
    """The WSGI app, with the per-request connection closing switched off as Django's test client
    does (closing would drop the test database's connection between requests).

    The run happens inside the test's transaction (rolled back at the end), on the reference rows
    the migrations seed: a transactional test would see them flushed by an earlier transactional
    test on the same worker."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _sign_in(client: Client, username: str) -> dict[str, Any]:
    """The role's API token, the token's id (when the API gives it) and the account's id."""
    response = client.post("/api/v1/auth/token/", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    issued = response.get_json()
    token = str(issued["token"])
    me = client.get("/api/v1/me/", headers={"Authorization": f"Token {token}"}).get_json()
    return {"token": token, "token_id": issued.get("id"), "user_id": me["id"]}


def _a_real_row(client: Client, token: str, path: str, spare: dict[str, set[Any]]) -> dict[str, Any]:
    """Path parameters of a row the role can see, from the collection's first page. The fuzzing
    accounts and their tokens are spared: revoking the token or resetting the password of the
    account a role is signed in with would turn the rest of the run into 401s."""
    collection, _, rest = path.partition("{")
    name = rest.split("}", 1)[0]
    response = client.get(collection, headers={"Authorization": f"Token {token}"})
    if response.status_code != 200:
        return {}
    body = response.get_json()
    rows = body.get("results", []) if isinstance(body, dict) else body
    avoid = spare.get(collection, set())
    for row in rows:
        if isinstance(row, dict) and name in row and row[name] not in avoid:
            return {name: row[name]}
    return {}


def test_every_operation_answers_as_the_schema_says(wsgi_app: Any) -> None:
    call_command("demo_data", stdout=open(os.devnull, "w"))  # noqa: SIM115
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    client = Client(wsgi_app)
    accounts = {role: _sign_in(client, username) for role, username in ROLES.items()}
    tokens = {role: account["token"] for role, account in accounts.items()}
    spare = {
        "/api/v1/users/": {account["user_id"] for account in accounts.values()},
        "/api/v1/api-tokens/": {account["token_id"] for account in accounts.values()},
    }

    failures: list[str] = []
    statuses: Counter[tuple[str, str, int]] = Counter()

    def fuzz(operation: Any, role: str, token: str) -> Any:
        # Valid requests must get answers as the schema says; invalid ones (schemathesis' negative
        # mode: wrong types, missing fields, out-of-range values) must at least never get a 5xx.
        valid = operation.as_strategy()
        invalid = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        protected = {str(value) for value in spare.get(operation.path.partition("{")[0], set())}
        if "{" in operation.path:
            real = _a_real_row(client, token, operation.path, spare)
            if real:
                valid = st.one_of(operation.as_strategy(path_parameters=real), valid)
        strategy = st.one_of(valid.map(lambda case: (case, CHECKS)), invalid.map(lambda case: (case, NO_5XX)))

        @given(drawn=strategy)
        @settings(
            max_examples=2 * EXAMPLES,
            deadline=None,
            database=None,
            derandomize=DERANDOMIZE,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(drawn: tuple[Any, list[Any]]) -> None:
            case, checks = drawn
            if protected & {str(value) for value in (case.path_parameters or {}).values()}:
                reject()  # a generated id that happens to be a fuzzing account or its token
            response = case.call(headers={"Authorization": f"Token {token}"})
            statuses[(operation.label, role, response.status_code)] += 1
            case.validate_response(response, checks=checks)

        return run

    started = time.monotonic()
    operations = 0
    for result in schema.get_all_operations():
        # Err.ok() raises: an operation schemathesis cannot read fails the test.
        operation = cast(Any, result).ok()
        operations += 1
        for role, token in tokens.items():
            try:
                fuzz(operation, role, token)()
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"as {role}: {operation.label}\n{exc}")
        took = time.monotonic() - started
        assert took < BUDGET, f"over the time budget: {took:.0f} s after {operations} operations"

    assert operations > 100, f"only {operations} operations in the schema"
    answered = {
        role: {label for (label, r, code), _ in statuses.items() if r == role and code < 300}
        for role in tokens
    }
    for role, labels in answered.items():
        # A broken token would make every answer a 401 and the run pass with nothing checked.
        if "GET /api/v1/me/" not in labels or len(labels) < 40:
            failures.append(f"as {role}: only {len(labels)} operations answered with a 2xx: {sorted(labels)}")
    assert not failures, f"{len(failures)} operation/role pairs failed:\n\n" + "\n\n".join(failures)
