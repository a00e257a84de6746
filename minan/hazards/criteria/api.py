"""`/api/v1/criteria-sets/` and `/api/v1/criteria-clauses/`: the criteria catalogue.

Not scoped: the catalogue is reference data of the whole deployment, not rows of a region (declared
`scoped = False`, like the duty posts). Reading needs `hazards.view_hazard` (who may read hazards may
read the criteria they are judged by); writing `hazards.change_criteriaset`. Refusals are 403 and
audited. Every write goes through `services`; its refusals are structured 400s with `code` and
`field`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from minan.core.api import ReferenceViewSet
from minan.core.api_fields import Int64Field, ScopedSlugRelatedField
from minan.core.views import current_user
from minan.hazards.models import Clause, CriteriaSet

from . import services

READ_PERMISSION = "hazards.view_hazard"


class ClauseSerializer(serializers.ModelSerializer):
    set = serializers.CharField(source="criteria_set.code", read_only=True, help_text="the set's code")

    class Meta:
        model = Clause
        fields = ["id", "set", "key", "group", "text", "text_en", "complete", "order"]
        read_only_fields = fields


class CriteriaSetSerializer(serializers.ModelSerializer):
    superseded_by = serializers.SlugRelatedField(  # type: ignore[var-annotated]
        slug_field="code", read_only=True, allow_null=True, help_text="code of the set that replaces this one"
    )
    loaded = serializers.IntegerField(read_only=True, help_text="clauses entered so far")
    clauses = ClauseSerializer(many=True, read_only=True)

    class Meta:
        model = CriteriaSet
        fields = [
            "id", "code", "title", "issuer", "issued_on", "effective_on", "active", "local", "makes_major",
            "expected_items", "loaded", "source", "superseded_by", "clauses",
        ]  # fmt: skip
        read_only_fields = fields


class CriteriaSetWriteSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40, help_text="letters, digits, - and _; unique")
    title = serializers.CharField(max_length=200)
    issuer = serializers.CharField(max_length=100, allow_blank=True, required=False)
    issued_on = serializers.DateField(allow_null=True, required=False)
    effective_on = serializers.DateField(allow_null=True, required=False, help_text="not before issued_on")
    active = serializers.BooleanField(required=False, help_text="in force: its clauses can be chosen")
    local = serializers.BooleanField(required=False, help_text="a local refinement")
    makes_major = serializers.BooleanField(required=False, help_text="a hazard matching a clause is major")
    expected_items = Int64Field(required=False, help_text="situations in the official text, 0-500")
    source = serializers.CharField(max_length=300, allow_blank=True, required=False)  # type: ignore[assignment]
    superseded_by = ScopedSlugRelatedField(
        slug_field="code",
        queryset=CriteriaSet.objects.all(),
        reference=True,  # the catalogue belongs to no place
        allow_null=True,
        required=False,
        help_text="code of the set that replaces this one; null: none",
    )


class ClauseWriteSerializer(serializers.Serializer):
    set = ScopedSlugRelatedField(
        slug_field="code",
        queryset=CriteriaSet.objects.all(),
        reference=True,  # the catalogue belongs to no place
        required=False,
        help_text="the set's code; required on creation, cannot change",
    )
    key = serializers.CharField(max_length=40, help_text="upper-case letters, digits and dashes; unique")
    group = serializers.CharField(max_length=100, allow_blank=True, required=False)
    text = serializers.CharField(help_text="the Chinese text")
    text_en = serializers.CharField(allow_blank=True, required=False)
    complete = serializers.BooleanField(required=False, help_text="the official wording, not a paraphrase")
    order = Int64Field(
        allow_null=True, required=False, help_text="0-32767; left out on creation: after the last clause"
    )


class CatalogueViewSet(ReferenceViewSet):
    read_permission = READ_PERMISSION
    edit_permission = services.EDIT_PERMISSION


class CriteriaSetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CatalogueViewSet):
    """Criteria sets with their clauses and `loaded` (how many of `expected_items` are entered).
    POST creates a set, PATCH changes what it sends."""

    queryset = CriteriaSet.objects.all()  # names the model for the permission check
    serializer_class = CriteriaSetSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[CriteriaSet]:
        return (
            CriteriaSet.objects.annotate(loaded=Count("clauses"))
            .select_related("superseded_by")
            .prefetch_related(
                Prefetch(
                    "clauses", queryset=Clause.objects.select_related("criteria_set").order_by("order", "key")
                )
            )
            .order_by("-active", "code")
        )

    def _fresh(self, criteria_set: CriteriaSet) -> Any:
        return CriteriaSetSerializer(self.get_queryset().get(pk=criteria_set.pk)).data

    @extend_schema(request=CriteriaSetWriteSerializer, responses={201: CriteriaSetSerializer})
    def create(self, request: Request) -> Response:
        data = CriteriaSetWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        saved = services.save_set(current_user(request), None, request=request, **data.validated_data)
        return Response(self._fresh(saved), status=status.HTTP_201_CREATED)

    @extend_schema(request=CriteriaSetWriteSerializer, responses=CriteriaSetSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        target = self.get_object()
        data = CriteriaSetWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        saved = services.save_set(current_user(request), target, request=request, **data.validated_data)
        return Response(self._fresh(saved))


@extend_schema(parameters=[OpenApiParameter("set", OpenApiTypes.STR, description="a criteria set's code")])
class CriteriaClauseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CatalogueViewSet):
    """Clauses of the catalogue, by set then order. Filter: `set` (a set's code). POST creates a clause
    in `set`, PATCH changes what it sends, DELETE removes a clause no hazard refers to (else 400
    `in_use`)."""

    queryset = Clause.objects.all()  # names the model for the permission check
    serializer_class = ClauseSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Clause]:
        qs = Clause.objects.select_related("criteria_set").order_by("criteria_set__code", "order", "key")
        if code := self.request.query_params.get("set", "").strip()[:40]:
            qs = qs.filter(criteria_set__code=code)
        return qs

    @extend_schema(request=ClauseWriteSerializer, responses={201: ClauseSerializer})
    def create(self, request: Request) -> Response:
        data = ClauseWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        criteria_set = values.pop("set", None)
        if criteria_set is None:
            raise serializers.ValidationError({"set": ["This field is required."]})
        saved = services.save_clause(current_user(request), criteria_set, None, request=request, **values)
        return Response(ClauseSerializer(saved).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ClauseWriteSerializer, responses=ClauseSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        clause = self.get_object()
        data = ClauseWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        criteria_set = values.pop("set", clause.criteria_set)  # another set is refused by the service
        saved = services.save_clause(current_user(request), criteria_set, clause, request=request, **values)
        return Response(ClauseSerializer(saved).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        services.delete_clause(current_user(request), self.get_object(), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
