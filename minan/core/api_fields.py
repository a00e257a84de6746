"""Serializer fields of the API: related fields whose choices come from the scoping mechanism, and
integers held to the 64-bit range of the database.

Every writable related field of every serializer is one of `ScopedPrimaryKeyRelatedField` /
`ScopedSlugRelatedField` (ModelSerializers get them through `ScopedModelSerializer`). Their queryset is
`Model.objects.for_user(request.user, action)` on top of what the field declares, so the browsable API's
drop-downs list only rows inside the caller's scope, and an id from another place reads as unknown
("object does not exist"), exactly like a missing one. Without a request in the serializer's context
nothing is accepted. Reference data that belongs to no place (institution subtypes, criteria sets,
checklist versions) is declared with `reference=True`; minan/core/tests/test_api_surface.py walks every
serializer and holds every field to this.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import relations, serializers

from minan.core.limits import INT64_MAX, INT64_MIN


class ScopedRelatedMixin:
    """A related field whose rows are those of its queryset inside the requesting user's scope."""

    def __init__(
        self, *args: Any, scope_action: str = "view", reference: bool = False, **kwargs: Any
    ) -> None:
        self.scope_action = scope_action
        self.reference = reference
        super().__init__(*args, **kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset()  # type: ignore[misc]
        if self.reference:
            return queryset
        if not hasattr(queryset, "for_user"):
            raise ImproperlyConfigured(
                f"{type(self).__name__} on {queryset.model.__name__}: the model has no for_user(); "
                "declare reference=True if its rows belong to no place"
            )
        request = getattr(self, "context", {}).get("request")
        return queryset.for_user(getattr(request, "user", None), self.scope_action)


class ScopedPrimaryKeyRelatedField(ScopedRelatedMixin, serializers.PrimaryKeyRelatedField):
    def to_internal_value(self, data: Any) -> Any:
        # An id beyond the 64-bit range is malformed, not merely unknown (and must not reach the driver).
        if isinstance(data, int | str) and not isinstance(data, bool):
            try:
                number = int(data)
            except (TypeError, ValueError):
                number = None
            if number is not None and not INT64_MIN <= number <= INT64_MAX:
                self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class ScopedPrimaryKeySchema(OpenApiSerializerFieldExtension):
    """In the schema, a scoped id is an integer of the key's range, as `to_internal_value` enforces."""

    target_class = ScopedPrimaryKeyRelatedField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if schema.get("type") == "integer":
            schema.setdefault("minimum", INT64_MIN)
            schema.setdefault("maximum", INT64_MAX)
        return schema


class ScopedSlugRelatedField(ScopedRelatedMixin, serializers.SlugRelatedField):
    pass


class ScopedModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose generated related fields are scoped (see the module docstring)."""

    serializer_related_field = ScopedPrimaryKeyRelatedField
    serializer_related_to_field = ScopedSlugRelatedField


class IdField(serializers.IntegerField):
    """The id of a row: a positive integer that fits the database's 64-bit key."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", INT64_MAX)
        super().__init__(**kwargs)


class Int64Field(serializers.IntegerField):
    """An integer the database can store: within the 64-bit signed range unless narrowed further."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", INT64_MIN)
        kwargs.setdefault("max_value", INT64_MAX)
        super().__init__(**kwargs)


def related_fields(serializer: serializers.BaseSerializer) -> list[tuple[str, relations.RelatedField]]:
    """The writable related fields of a serializer (the child of a many=True field), by name."""
    found = []
    for name, field in serializer.fields.items():  # type: ignore[attr-defined]
        if field.read_only:
            continue
        relation = field.child_relation if isinstance(field, relations.ManyRelatedField) else field
        if isinstance(relation, relations.RelatedField):
            found.append((name, relation))
    return found
