"""`/api/v1/checklists/` and `/api/v1/checklist-items/`: checklist versions with their sections and items.

Not scoped: checklists are reference data of the whole deployment (declared `scoped = False`, like the
criteria catalogue). Reading needs `inspections.view_inspection`, writing
`inspections.change_checklisttemplate`; refusals are 403 and audited. Every write goes through
`services`, which changes drafts only (a published or retired version answers 400 `published`).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from minan.core.api import ReferenceViewSet
from minan.core.api_fields import IdField, Int64Field, ScopedPrimaryKeyRelatedField
from minan.core.views import current_user

from ..models import ChecklistItem, ChecklistSection, ChecklistTemplate
from . import services

# Choice-like fields are plain strings here (their values are listed in help_text and checked by the
# service): `status`, `cadence` and `severity` name other choice sets elsewhere in the schema.
ANSWER_TYPES = ", ".join(ChecklistItem.AnswerType.values)


class ChecklistItemSerializer(serializers.ModelSerializer):
    checklist = serializers.IntegerField(source="template_id", read_only=True, help_text="the version's id")
    section = serializers.IntegerField(source="section_id", read_only=True)
    section_title = serializers.CharField(source="section.title", read_only=True)
    answer_type = serializers.CharField(read_only=True, help_text=ANSWER_TYPES)
    severity = serializers.CharField(read_only=True, help_text="low, medium or high")
    hazard_category = serializers.CharField(read_only=True, help_text="a hazard category code")
    clause = serializers.SlugRelatedField(  # type: ignore[var-annotated]
        slug_field="key",
        read_only=True,
        allow_null=True,
        help_text="key of a criteria clause, e.g. MCA2023-4-1",
    )

    class Meta:
        model = ChecklistItem
        fields = [
            "id", "checklist", "section", "section_title", "order", "code", "question", "answer_type", "choices",
            "failing_choices", "min_value", "max_value", "unit", "photo_on_fail", "note_on_fail", "severity",
            "points", "major_on_fail", "clause", "basis", "hazard_category",
        ]  # fmt: skip
        read_only_fields = fields


class ChecklistSectionSerializer(serializers.ModelSerializer):
    items = ChecklistItemSerializer(many=True, read_only=True)

    class Meta:
        model = ChecklistSection
        fields = ["id", "order", "title", "items"]
        read_only_fields = fields


class ChecklistSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text="draft, published or retired (superseded)")
    cadence = serializers.CharField(read_only=True, help_text="usual cadence; empty: as needed")
    item_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ChecklistTemplate
        fields = [
            "id", "code", "version", "status", "title", "description", "kinds", "institution_kinds", "cadence",
            "basis", "item_count", "created_at", "published_at",
        ]  # fmt: skip
        read_only_fields = fields


class ChecklistDetailSerializer(ChecklistSerializer):
    sections = ChecklistSectionSerializer(many=True, read_only=True)

    class Meta(ChecklistSerializer.Meta):
        fields = [*ChecklistSerializer.Meta.fields, "sections"]
        read_only_fields = fields


class ChecklistWriteSerializer(serializers.Serializer):
    code = serializers.CharField(
        max_length=40, help_text="the family's code (letters, digits, - and _); on creation"
    )
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=2000, allow_blank=True, required=False)
    kinds = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="inspection kinds (duty, sector, …); empty: any",
    )
    institution_kinds = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="elderly_care, child_welfare, funeral; empty: any",
    )
    cadence = serializers.CharField(
        allow_blank=True, required=False, help_text="daily, weekly, …; empty: as needed"
    )
    basis = serializers.CharField(max_length=300, allow_blank=True, required=False)


class ChecklistItemWriteSerializer(serializers.Serializer):
    checklist = ScopedPrimaryKeyRelatedField(
        queryset=ChecklistTemplate.objects.all(),
        reference=True,  # checklist versions belong to no place
        required=False,
        help_text="a draft's id; on creation only",
    )
    section = IdField(required=False, help_text="id of a section of the draft")
    section_title = serializers.CharField(
        max_length=200,
        required=False,
        help_text="instead of `section`: the section of this title (added if none)",
    )
    order = Int64Field(required=False, allow_null=True, help_text="empty: last in its section")
    code = serializers.CharField(max_length=20, help_text="unique within the version, e.g. D01")
    question = serializers.CharField(max_length=1000)
    answer_type = serializers.CharField(required=False, help_text=ANSWER_TYPES)
    choices = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="choice items: 2-20"
    )
    failing_choices = serializers.ListField(child=serializers.CharField(), required=False)
    min_value = serializers.DecimalField(max_digits=12, decimal_places=3, allow_null=True, required=False)
    max_value = serializers.DecimalField(max_digits=12, decimal_places=3, allow_null=True, required=False)
    unit = serializers.CharField(max_length=20, allow_blank=True, required=False)
    photo_on_fail = serializers.BooleanField(required=False)
    note_on_fail = serializers.BooleanField(required=False)
    severity = serializers.CharField(required=False, help_text="low, medium or high")
    points = Int64Field(required=False)
    major_on_fail = serializers.BooleanField(required=False)
    clause = serializers.CharField(
        allow_blank=True, allow_null=True, required=False, help_text="a clause key or null"
    )
    basis = serializers.CharField(max_length=200, allow_blank=True, required=False)
    hazard_category = serializers.CharField(required=False, help_text="a hazard category code")


class ChecklistCatalogueViewSet(ReferenceViewSet):
    read_permission = services.READ_PERMISSION
    edit_permission = services.EDIT_PERMISSION
    audit_object_type = services.OBJECT_TYPE


def _detail_queryset() -> QuerySet[ChecklistTemplate]:
    items = ChecklistItem.objects.select_related("section", "clause").order_by("order", "id")
    sections = ChecklistSection.objects.order_by("order", "id").prefetch_related(
        Prefetch("items", queryset=items)
    )
    return ChecklistTemplate.objects.annotate(item_count=Count("items")).prefetch_related(
        Prefetch("sections", queryset=sections)
    )


@extend_schema(
    parameters=[
        OpenApiParameter("code", OpenApiTypes.STR, description="a checklist family's code"),
        OpenApiParameter("status", OpenApiTypes.STR, description="draft, published or retired"),
    ]
)
class ChecklistViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ChecklistCatalogueViewSet):
    """Checklist versions, by code then newest version first; one version with its sections and items.
    POST creates a new family as draft v1; PATCH changes a draft's details; DELETE removes a draft no
    inspection uses; `publish/` publishes a draft (the previous published version is retired);
    `new-version/` copies a published or retired version into a new draft."""

    queryset = ChecklistTemplate.objects.all()  # names the model for the permission check
    serializer_class = ChecklistSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[ChecklistTemplate]:
        qs = (
            _detail_queryset()
            if self.action != "list"
            else ChecklistTemplate.objects.annotate(item_count=Count("items"))
        )
        params = self.request.query_params
        if code := params.get("code", "").strip()[:40]:
            qs = qs.filter(code=code)
        if state := params.get("status", "").strip()[:10]:
            qs = qs.filter(status=state)
        return qs.order_by("code", "-version")

    def get_serializer_class(self) -> Any:
        return ChecklistSerializer if self.action == "list" else ChecklistDetailSerializer

    def _fresh(self, template: ChecklistTemplate) -> Any:
        return ChecklistDetailSerializer(_detail_queryset().get(pk=template.pk)).data

    @extend_schema(request=ChecklistWriteSerializer, responses={201: ChecklistDetailSerializer})
    def create(self, request: Request) -> Response:
        data = ChecklistWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.create_draft(current_user(request), request=request, **data.validated_data)
        return Response(self._fresh(created), status=status.HTTP_201_CREATED)

    @extend_schema(request=ChecklistWriteSerializer, responses=ChecklistDetailSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        target = self.get_object()
        data = ChecklistWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        saved = services.update_draft(current_user(request), target, request=request, **data.validated_data)
        return Response(self._fresh(saved))

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        services.delete_draft(current_user(request), self.get_object(), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ChecklistDetailSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        published = services.publish(current_user(request), self.get_object(), request=request)
        return Response(self._fresh(published))

    @extend_schema(request=None, responses={201: ChecklistDetailSerializer})
    @action(detail=True, methods=["post"], url_path="new-version")
    def new_version(self, request: Request, pk: str) -> Response:
        draft = services.new_version(current_user(request), self.get_object(), request=request)
        return Response(self._fresh(draft), status=status.HTTP_201_CREATED)


@extend_schema(parameters=[OpenApiParameter("checklist", OpenApiTypes.INT, description="a version's id")])
class ChecklistItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ChecklistCatalogueViewSet):
    """Items of checklist versions. Filter: `checklist` (a version's id). POST adds an item to a draft
    (`checklist`, and `section` or `section_title`), PATCH changes what it sends, DELETE removes it;
    items of a published or retired version answer 400 `published`."""

    queryset = ChecklistItem.objects.all()  # names the model for the permission check
    serializer_class = ChecklistItemSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[ChecklistItem]:
        qs = ChecklistItem.objects.select_related("section", "clause", "template").order_by(
            "template__code", "template__version", "section__order", "order", "id"
        )
        raw = self.request.query_params.get("checklist", "").strip()
        if raw.isdigit():
            qs = qs.filter(template_id=int(raw))
        elif raw:
            qs = qs.none()
        return qs

    def _values(self, data: ChecklistItemWriteSerializer, template: ChecklistTemplate) -> dict[str, Any]:
        values = dict(data.validated_data)
        values.pop("checklist", None)
        section_id, title = values.pop("section", None), values.pop("section_title", None)
        if section_id is not None:
            found = ChecklistSection.objects.filter(pk=section_id, template=template).first()
            if found is None:
                raise serializers.ValidationError({"section": ["Not a section of this checklist."]})
            values["section"] = found
        elif title is not None:
            values["section"] = title
        return values

    @extend_schema(request=ChecklistItemWriteSerializer, responses={201: ChecklistItemSerializer})
    def create(self, request: Request) -> Response:
        data = ChecklistItemWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = data.validated_data.get("checklist")
        if template is None:
            raise serializers.ValidationError({"checklist": ["This field is required."]})
        values = self._values(data, template)
        if "section" not in values:
            raise serializers.ValidationError({"section": ["Give `section` or `section_title`."]})
        saved = services.save_item(current_user(request), template, None, request=request, **values)
        return Response(ChecklistItemSerializer(saved).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ChecklistItemWriteSerializer, responses=ChecklistItemSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        item = self.get_object()
        data = ChecklistItemWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "checklist" in data.validated_data and data.validated_data["checklist"].pk != item.template_id:
            raise serializers.ValidationError({"checklist": ["An item stays in its checklist version."]})
        values = self._values(data, item.template)
        saved = services.save_item(current_user(request), item.template, item, request=request, **values)
        return Response(ChecklistItemSerializer(saved).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        services.delete_item(current_user(request), self.get_object(), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
