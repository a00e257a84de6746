"""`/api/v1/inspections/`: inspections inside your scope, starting one, answering item by item, photos,
submitting (errors name the missing required answers) and cancelling. Every read goes through
`Inspection.objects.for_user` (ScopedViewSet); every write through `services`, which checks that the
caller leads the inspection (403 otherwise) and writes nothing when it refuses."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from minan.core.api import ScopedViewSet
from minan.core.api_fields import IdField
from minan.core.limits import FormParser, JSONParser, parse_int64
from minan.core.views import current_user
from minan.institutions.models import Institution

from ..models import Answer, AnswerPhoto, ChecklistItem, ChecklistTemplate, Inspection, InspectionTask, Kind
from . import services


class AnswerPhotoSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="the photo, for a signed-in browser session")

    class Meta:
        model = AnswerPhoto
        fields = ["id", "name", "content_type", "size", "taken_at", "uploaded_at", "url"]
        read_only_fields = fields

    def get_url(self, obj: AnswerPhoto) -> str:
        return reverse("inspections:inspection_file", args=[obj.pk])


class AnswerSerializer(serializers.ModelSerializer):
    item_code = serializers.CharField(source="item.code", read_only=True)
    photos = AnswerPhotoSerializer(many=True, read_only=True)

    class Meta:
        model = Answer
        fields = ["id", "item", "item_code", "outcome", "number", "text", "note", "answered_by", "answered_at",
                  "hazard", "merged", "photos"]  # fmt: skip
        read_only_fields = fields


# Plain strings in the schema (values in the description), not enums: other models have fields named
# `status` and `result` with other choices, and drf-spectacular extracts every enum into a shared
# component named after the field (a collision warning until ENUM_NAME_OVERRIDES names them).
@extend_schema_field({"type": "string", "description": " | ".join(Inspection.Status.values)})
class InspectionStatusField(serializers.CharField):
    pass


@extend_schema_field(
    {"type": "string", "description": " | ".join(Inspection.Result.values) + " (empty until submitted)"}
)
class InspectionResultField(serializers.CharField):
    pass


class InspectionSerializer(serializers.ModelSerializer):
    status = InspectionStatusField(read_only=True)
    result = InspectionResultField(read_only=True)
    institution_name = serializers.CharField(source="institution.name", read_only=True)
    template_code = serializers.CharField(source="template.code", read_only=True)
    template_version = serializers.IntegerField(source="template.version", read_only=True)
    lead_name = serializers.CharField(source="lead.display_name", read_only=True)
    signed_by_inspector = serializers.SerializerMethodField()
    signed_by_representative = serializers.SerializerMethodField()

    class Meta:
        model = Inspection
        fields = [
            "id", "institution", "institution_name", "kind", "template", "template_code", "template_version",
            "task", "status", "lead", "lead_name", "team", "representative", "started_at", "finished_at",
            "summary", "score", "max_score", "result", "signed_by_inspector", "signed_by_representative",
        ]  # fmt: skip
        read_only_fields = fields

    def get_signed_by_inspector(self, obj: Inspection) -> bool:
        return bool(obj.inspector_signature)

    def get_signed_by_representative(self, obj: Inspection) -> bool:
        return bool(obj.representative_signature)


class MissingAnswerSerializer(serializers.Serializer):
    item = serializers.CharField()
    question = serializers.CharField()
    problem = serializers.CharField()


class InspectionDetailSerializer(InspectionSerializer):
    answers = AnswerSerializer(many=True, read_only=True)
    missing_answers = serializers.SerializerMethodField(help_text="what still blocks submission (drafts)")
    report_url = serializers.SerializerMethodField(
        help_text="the PDF report, for a signed-in browser session"
    )

    class Meta(InspectionSerializer.Meta):
        fields = [*InspectionSerializer.Meta.fields, "answers", "missing_answers", "report_url"]
        read_only_fields = fields

    @extend_schema_field(MissingAnswerSerializer(many=True))
    def get_missing_answers(self, obj: Inspection) -> list[dict[str, str]]:
        return services.missing_answers(obj) if obj.status == Inspection.Status.DRAFT else []

    def get_report_url(self, obj: Inspection) -> str | None:
        if obj.status != Inspection.Status.SUBMITTED:
            return None
        return reverse("inspections:inspection_report", args=[obj.pk])


class InspectionStartSerializer(serializers.Serializer):
    task = IdField(required=False, help_text="start the inspection of one of your tasks")
    institution = IdField(required=False)
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    template = IdField(required=False, help_text="a published checklist version")
    team = serializers.CharField(max_length=300, required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "task" not in attrs:
            missing = {name: [_("This field is required.")] for name in ("institution", "kind", "template")
                       if name not in attrs}  # fmt: skip
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class InspectionAnswerInputSerializer(serializers.Serializer):
    item = IdField(help_text="the checklist item's id")
    outcome = serializers.ChoiceField(choices=["", *Answer.Outcome.values], required=False, allow_blank=True)
    number = serializers.CharField(max_length=40, required=False, allow_blank=True, allow_null=True)
    text = serializers.CharField(max_length=2000, required=False, allow_blank=True, trim_whitespace=False)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class InspectionPhotosInputSerializer(serializers.Serializer):
    item = IdField()
    files = serializers.ListField(child=serializers.FileField(), max_length=services.MAX_PHOTOS_PER_ITEM)


class InspectionSubmitInputSerializer(serializers.Serializer):
    merges = serializers.DictField(
        child=IdField(), required=False,
        help_text="{failed item id: open hazard id} — the failure joins that hazard instead of a new one",
    )  # fmt: skip
    representative = serializers.CharField(max_length=50, required=False, allow_blank=True)
    inspector_signature = serializers.CharField(required=False, allow_blank=True, help_text="PNG data URL")
    representative_signature = serializers.CharField(
        required=False, allow_blank=True, help_text="PNG data URL"
    )
    summary = serializers.CharField(max_length=4000, required=False, allow_blank=True)

    def validate_merges(self, value: dict[str, int]) -> dict[int, int]:
        merges: dict[int, int] = {}
        for key, hazard in value.items():
            item = parse_int64(key)  # an id of 64 bits, not merely str.isdigit() ("²" is a digit to it)
            if item is None or item < 1:
                raise serializers.ValidationError(_("Use item ids as keys."))
            merges[item] = hazard
        return merges


class InspectionCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)


FILTERS = [
    OpenApiParameter("institution", int),
    OpenApiParameter("task", int),
    OpenApiParameter("kind", str, enum=Kind.values),
    OpenApiParameter("status", str, enum=Inspection.Status.values),
    OpenApiParameter("result", str, enum=Inspection.Result.values),
    OpenApiParameter("date_from", dt.date, description="started on or after"),
    OpenApiParameter("date_to", dt.date, description="started on or before"),
]


@extend_schema(parameters=FILTERS)
class InspectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Inspections inside your scope (a detail has its answers nested, and for a draft what still
    blocks submission). POST starts one: `{"institution", "kind", "template"}` or `{"task"}`.
    `POST {id}/answer/` saves one item's answer, `POST {id}/photos/` (multipart `item` + `files`) adds
    photos, `POST {id}/submit/` finishes it — refused with 400 `missing_answers` and the items in
    `details` while required answers are missing, and nothing is written then — and
    `POST {id}/cancel/` abandons a draft. Only the inspector who leads an inspection changes it (403)."""

    queryset = Inspection.objects.all()
    serializer_class = InspectionSerializer
    parser_classes: ClassVar[list[Any]] = [JSONParser, MultiPartParser, FormParser]  # type: ignore[misc]
    action_scope: ClassVar[dict[str, str]] = {
        "answer": "view",
        "photos": "view",
        "submit": "view",
        "cancel": "view",
    }

    def get_serializer_class(self) -> Any:
        return InspectionDetailSerializer if self.action == "retrieve" else InspectionSerializer

    def refine_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        qs = queryset.select_related("institution", "template", "lead")
        if self.action == "retrieve":
            answers = Answer.objects.select_related("item").prefetch_related("photos")
            qs = qs.prefetch_related(Prefetch("answers", queryset=answers))
        params = self.request.query_params
        for name in ("institution", "task"):
            if params.get(name, "").isdigit():
                qs = qs.filter(**{f"{name}_id": int(params[name])})
        if params.get("kind") in Kind.values:
            qs = qs.filter(kind=params["kind"])
        if params.get("status") in Inspection.Status.values:
            qs = qs.filter(status=params["status"])
        if params.get("result") in Inspection.Result.values:
            qs = qs.filter(result=params["result"])
        for name, lookup in (("date_from", "started_at__date__gte"), ("date_to", "started_at__date__lte")):
            try:
                qs = qs.filter(**{lookup: dt.date.fromisoformat(params.get(name, ""))})
            except ValueError:
                continue
        return qs.order_by("-started_at", "-id")

    def _detail(self, inspection: Inspection, code: int = status.HTTP_200_OK) -> Response:
        """The inspection read back through the scope, with its answers."""
        answers = Answer.objects.select_related("item").prefetch_related("photos")
        fresh = (
            Inspection.objects.for_user(self.request.user)
            .select_related("institution", "template", "lead")
            .prefetch_related(Prefetch("answers", queryset=answers))
            .get(pk=inspection.pk)
        )
        return Response(
            InspectionDetailSerializer(fresh, context=self.get_serializer_context()).data, status=code
        )

    def _item(self, inspection: Inspection, item_id: int) -> ChecklistItem:
        item = ChecklistItem.objects.filter(pk=item_id, template_id=inspection.template_id).first()
        if item is None:
            raise serializers.ValidationError(
                {"item": [_("This item is not on the inspection's checklist.")]}
            )
        return item

    @extend_schema(request=InspectionStartSerializer, responses={201: InspectionDetailSerializer})
    def create(self, request: Request) -> Response:
        data = InspectionStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        actor = current_user(request)
        team = values.get("team", "")
        if "task" in values:
            task = get_object_or_404(
                InspectionTask.objects.for_user(actor).select_related("institution"), pk=values["task"]
            )
            inspection = services.start(
                actor, task.institution, kind=task.kind, task=task, team=team, request=request
            )
        else:
            institution = get_object_or_404(Institution.objects.for_user(actor), pk=values["institution"])
            template = ChecklistTemplate.objects.filter(pk=values["template"]).first()
            if template is None:
                raise serializers.ValidationError({"template": [_("Choose a published checklist.")]})
            inspection = services.start(
                actor, institution, kind=values["kind"], template=template, team=team, request=request
            )
        return self._detail(inspection, status.HTTP_201_CREATED)

    @extend_schema(request=InspectionAnswerInputSerializer, responses=AnswerSerializer)
    @action(detail=True, methods=["post"])
    def answer(self, request: Request, pk: str) -> Response:
        inspection = self.get_object()
        data = InspectionAnswerInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        item = self._item(inspection, values.pop("item"))
        given = services.answer(
            current_user(request), inspection, item, outcome=values.get("outcome", ""),
            number=values.get("number"), text=values.get("text", ""), note=values.get("note", ""),
        )  # fmt: skip
        given = Answer.objects.select_related("item").prefetch_related("photos").get(pk=given.pk)
        return Response(AnswerSerializer(given).data)

    @extend_schema(
        request={"multipart/form-data": InspectionPhotosInputSerializer}, responses={201: AnswerSerializer}
    )
    @action(detail=True, methods=["post"])
    def photos(self, request: Request, pk: str) -> Response:
        inspection = self.get_object()
        files = request.FILES.getlist("files")
        item_id = request.data.get("item") if isinstance(request.data, dict) else None
        data = InspectionPhotosInputSerializer(data={"item": item_id, "files": files})
        data.is_valid(raise_exception=True)
        item = self._item(inspection, data.validated_data["item"])
        services.add_photos(current_user(request), inspection, item, data.validated_data["files"])
        given = (
            Answer.objects.select_related("item")
            .prefetch_related("photos")
            .get(inspection=inspection, item=item)
        )
        return Response(AnswerSerializer(given).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=InspectionSubmitInputSerializer, responses=InspectionDetailSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str) -> Response:
        inspection = self.get_object()
        data = InspectionSubmitInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        inspection = services.submit(
            current_user(request), inspection, merges=values.get("merges") or {},
            representative=values.get("representative", ""),
            inspector_signature=values.get("inspector_signature", ""),
            representative_signature=values.get("representative_signature", ""),
            summary=values.get("summary", ""), request=request,
        )  # fmt: skip
        return self._detail(inspection)

    @extend_schema(request=InspectionCancelSerializer, responses=InspectionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        inspection = self.get_object()
        data = InspectionCancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        inspection = services.cancel(
            current_user(request), inspection, data.validated_data["reason"], request=request
        )
        return Response(InspectionSerializer(inspection).data)
