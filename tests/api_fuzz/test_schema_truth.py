"""The OpenAPI schema says what the answers really hold.

drf-spectacular marks a field nullable only when the serializer field says `allow_null`, and lists ""
in an enum only when it says `allow_blank`. A read-only field that reads through a nullable relation
(`assignee.display_name`, a nullable foreign key shown by its code) or a blank-able choice field shown
read-only answers null or "" while the schema promises a string or one of the choices. The first test
walks every serializer of the API and fails on any such field, so the whole class of defect is caught,
not only the fields found by probing; the others check the answers of the fixed operations.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from typing import Any

import pytest
from django.db import models
from rest_framework import serializers
from rest_framework.test import APIClient

import minan


def _api_modules() -> list[Any]:
    names = [
        m.name
        for m in pkgutil.walk_packages(minan.__path__, "minan.")
        if m.name.rsplit(".", 1)[-1].endswith("api") or m.name.rsplit(".", 1)[-1] == "push"
    ]
    return [importlib.import_module(name) for name in sorted(names)]


def _serializer_classes() -> list[type[serializers.BaseSerializer]]:
    found: list[type[serializers.BaseSerializer]] = []
    for module in _api_modules():
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, serializers.BaseSerializer)
                and value.__module__ == module.__name__
                and value not in found
            ):
                found.append(value)
    return found


def _reads_through_null(model: Any, source: str) -> bool:
    """True when following `source` from `model` crosses a nullable field or foreign key."""
    current = model
    for part in source.split("."):
        try:
            field = current._meta.get_field(part)
        except Exception:  # a property or method: not a model field, nothing to say
            return False
        if field.auto_created and not field.concrete:  # a reverse relation: a list, never null
            return False
        if getattr(field, "null", False):
            return True
        if not field.is_relation or field.related_model is None:
            return False
        current = field.related_model
    return False


def _hidden_nulls_and_blanks() -> list[str]:
    problems = []
    for cls in _serializer_classes():
        model = getattr(getattr(cls, "Meta", None), "model", None)
        if model is None:
            continue
        serializer: Any = cls()
        for name, field in serializer.fields.items():
            if field.write_only or isinstance(
                field, serializers.SerializerMethodField | serializers.ListSerializer
            ):
                continue
            where = f"{cls.__module__}.{cls.__name__}.{name}"
            if field.source != "*" and not field.allow_null and _reads_through_null(model, field.source):
                problems.append(f"{where}: reads {field.source!r} through a null but is not allow_null")
            if isinstance(field, serializers.ChoiceField) and not field.allow_blank:
                try:
                    model_field = model._meta.get_field(field.source)
                except Exception:
                    continue
                if (
                    isinstance(model_field, models.CharField | models.TextField)
                    and model_field.blank
                    and model_field.choices
                ):
                    problems.append(f"{where}: the model allows '' but the field does not allow_blank")
    return problems


def test_no_serializer_field_hides_a_null_or_a_blank_choice() -> None:
    assert _serializer_classes(), "no serializer found: the walk over the api modules is broken"
    assert _hidden_nulls_and_blanks() == []


def _schema(client: Any) -> dict[str, Any]:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def _component(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return schema["components"]["schemas"][name]


@pytest.mark.django_db
def test_the_schema_marks_the_nullable_and_blank_fields(client: Any) -> None:
    schema = _schema(client)
    for component, field in [
        ("User", "institution"),
        ("Alarm", "acknowledged_by_name"),
        ("Alarm", "cleared_by_name"),
        ("AlarmEvent", "actor_name"),
        ("CriteriaSet", "superseded_by"),
        ("ChecklistItem", "clause"),
        ("Task", "assignee_name"),
        ("Institution", "subtype"),
        ("Institution", "ownership"),
        ("Region", "parent"),
    ]:
        assert _component(schema, component)["properties"][field].get("nullable") is True, (component, field)
    level = _component(schema, "Hazard")["properties"]["supervising_level"]
    refs = {item.get("$ref", "").rsplit("/", 1)[-1] for item in level["oneOf"]}
    assert refs == {"SupervisingLevelEnum", "BlankEnum"}
    assert _component(schema, "BlankEnum")["enum"] == [""]


@pytest.mark.django_db
def test_my_duty_posts_are_a_plain_list_in_schema_and_answer(client: Any, make_user: Any, tree: Any) -> None:
    """`/duty-posts/mine/` is the caller's few posts, unpaginated: the schema says an array, as answered."""
    schema = _schema(client)
    answer = schema["paths"]["/api/v1/duty-posts/mine/"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]
    assert answer["schema"]["type"] == "array"
    assert answer["schema"]["items"] == {"$ref": "#/components/schemas/DutyPost"}
    cadre = make_user("cadre_mine", roles=["cadre"], region=tree["rencheng"])
    api = APIClient()
    api.force_authenticate(cadre)
    response = api.get("/api/v1/duty-posts/mine/")
    assert response.status_code == 200
    assert isinstance(response.json(), list)
