"""`/api/v1/hazards/`: the ledger with filters, reporting, and the moves of the closed loop."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from minan.accounts.models import User
from minan.core.api import ScopedViewSet
from minan.core.api_fields import IdField
from minan.core.limits import FormParser, JSONParser
from minan.core.views import current_user
from minan.institutions.models import Institution

from . import selectors, services
from .models import Category, Clause, Extension, Hazard, Pause, Source
from .workflow import MOVES, moves_from


def allowed_moves(hazard: Hazard, user: Any) -> list[str]:
    return [m.action for m in moves_from(hazard.status) if user.has_perm(m.permission)]


class HazardSerializer(serializers.ModelSerializer):
    institution_name = serializers.CharField(source="institution.name", read_only=True)
    # "" until a major hazard is listed for supervision; read-only fields lose the model's
    # allow_blank, so it is declared here for the schema to list "" too.
    supervising_level = serializers.ChoiceField(
        choices=Hazard.SupervisingLevel.choices, allow_blank=True, read_only=True
    )
    overdue = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField()

    class Meta:
        model = Hazard
        fields = [
            "id", "institution", "institution_name", "source", "source_ref", "category", "level", "description",
            "location", "clause", "found_by", "found_at", "on_the_spot", "responsible_person", "cadre", "status",
            "requirement", "assigned_on", "deadline", "paused_since", "paused_days", "overdue", "plan_responsible", "plan_measures", "plan_funds",
            "plan_deadline", "plan_contingency", "supervising_level", "supervisor", "measures_taken", "accepted_by",
            "accepted_at", "closed_at", "reopened", "allowed_actions",
        ]  # fmt: skip
        read_only_fields = fields

    def get_overdue(self, obj: Hazard) -> bool:
        return selectors.is_overdue(obj, timezone.localdate())

    def get_allowed_actions(self, obj: Hazard) -> list[str]:
        return allowed_moves(obj, self.context["request"].user)


class ReportSerializer(serializers.Serializer):
    institution = IdField()
    source = serializers.ChoiceField(choices=Source.choices)  # type: ignore[assignment]  # a field named "source"
    category = serializers.ChoiceField(choices=Category.choices)
    level = serializers.ChoiceField(choices=Hazard.Level.choices)
    description = serializers.CharField(max_length=2000)
    location = serializers.CharField(max_length=200, required=False, allow_blank=True)
    clause = serializers.CharField(required=False, allow_blank=True, help_text="clause key, e.g. MCA2023-4-3")
    responsible_person = serializers.CharField(max_length=50, required=False, allow_blank=True)
    source_ref = serializers.CharField(max_length=60, required=False, allow_blank=True)
    on_the_spot = serializers.BooleanField(required=False, default=False)
    files = serializers.ListField(
        child=serializers.FileField(), required=False, max_length=services.MAX_FILES
    )


class TransitionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=sorted(MOVES))
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    requirement = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    days = serializers.IntegerField(required=False, min_value=1, max_value=365)
    supervisor = IdField(required=False)
    measures_taken = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    files = serializers.ListField(
        child=serializers.FileField(), required=False, max_length=services.MAX_FILES
    )


FILTERS = [
    OpenApiParameter("institution", int),
    OpenApiParameter("level", str, enum=Hazard.Level.values),
    OpenApiParameter("category", str, enum=Category.values),
    OpenApiParameter("status", str, description="a status, or `open`"),
    OpenApiParameter("source", str, enum=Source.values),
    OpenApiParameter("overdue", bool),
    OpenApiParameter("paused", bool, description="the deadline clock stands still"),
    OpenApiParameter("region", str, description="region code: the hazards of that region and below"),
    OpenApiParameter("found_from", dt.date),
    OpenApiParameter("found_to", dt.date),
]


def filter_hazards(queryset: QuerySet[Hazard], params: Any) -> QuerySet[Hazard]:
    """The ledger filters, the same as the ledger page and its export."""
    return selectors.filter_hazards(queryset, params, timezone.localdate())


# --- deadline extensions and pauses ----------------------------------------------------------------------


class ExtensionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Extension
        fields = ["id", "hazard", "days", "reason", "requested_by", "requested_at", "decision", "decided_by",
                  "decided_at", "old_deadline", "new_deadline"]  # fmt: skip
        read_only_fields = fields


class ExtensionRequestSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=90)
    reason = serializers.CharField(max_length=1000)


class ExtensionDecisionSerializer(serializers.Serializer):
    extension = IdField()
    approve = serializers.BooleanField()
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ExtensionActions:
    """`POST /hazards/{id}/extension/` asks for more working days; `POST /hazards/{id}/decide-extension/`
    approves or refuses the pending request (mixed into HazardViewSet)."""

    @extend_schema(request=ExtensionRequestSerializer, responses=ExtensionSerializer)
    @action(detail=True, methods=["post"])
    def extension(self, request: Request, pk: str) -> Response:
        hazard = self.get_object()  # type: ignore[attr-defined]
        data = ExtensionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        extension = services.request_extension(
            current_user(request),
            hazard,
            data.validated_data["days"],
            data.validated_data["reason"],
            request=request,
        )
        return Response(ExtensionSerializer(extension).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ExtensionDecisionSerializer, responses=ExtensionSerializer)
    @action(detail=True, methods=["post"], url_path="decide-extension")
    def decide_extension(self, request: Request, pk: str) -> Response:
        hazard = self.get_object()  # type: ignore[attr-defined]
        data = ExtensionDecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        extension = get_object_or_404(Extension, pk=data.validated_data["extension"], hazard=hazard)
        extension = services.decide_extension(
            current_user(request), extension, data.validated_data["approve"],
            data.validated_data.get("comment", ""), request=request,
        )  # fmt: skip
        return Response(ExtensionSerializer(extension).data)


class PauseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Pause
        fields = ["id", "hazard", "reason", "requested_by", "requested_at", "decision", "decided_by", "decided_at",
                  "started_on", "ended_on", "ended_by", "working_days"]  # fmt: skip
        read_only_fields = fields


class PauseRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)


class PauseDecisionSerializer(serializers.Serializer):
    pause = IdField()
    approve = serializers.BooleanField()
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ResumeSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class PauseActions:
    """`POST /hazards/{id}/pause/` asks to stop the deadline clock; `POST {id}/decide-pause/` approves or
    refuses; `POST {id}/resume/` runs the clock again and moves the deadline (mixed into HazardViewSet)."""

    @extend_schema(request=PauseRequestSerializer, responses=PauseSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        hazard = self.get_object()  # type: ignore[attr-defined]
        data = PauseRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pause = services.request_pause(
            current_user(request), hazard, data.validated_data["reason"], request=request
        )
        return Response(PauseSerializer(pause).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PauseDecisionSerializer, responses=PauseSerializer)
    @action(detail=True, methods=["post"], url_path="decide-pause")
    def decide_pause(self, request: Request, pk: str) -> Response:
        hazard = self.get_object()  # type: ignore[attr-defined]
        data = PauseDecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pause = get_object_or_404(Pause, pk=data.validated_data["pause"], hazard=hazard)
        pause = services.decide_pause(
            current_user(request), pause, data.validated_data["approve"], data.validated_data.get("comment", ""),
            request=request,
        )  # fmt: skip
        return Response(PauseSerializer(pause).data)

    @extend_schema(request=ResumeSerializer, responses=HazardSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        hazard = self.get_object()  # type: ignore[attr-defined]
        data = ResumeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hazard = services.resume(
            current_user(request), hazard, data.validated_data.get("comment", ""), request=request
        )
        return Response(HazardSerializer(hazard, context={"request": request}).data)


@extend_schema(parameters=FILTERS)
class HazardViewSet(
    ExtensionActions, PauseActions, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet
):
    """Hazards inside your scope. POST reports one (multipart for evidence files);
    POST `{id}/transition/` performs a move of the closed loop and returns the hazard with the moves
    allowed next. A refused move answers 400 with `code` naming the rule (e.g. `not_allowed`,
    `five_guarantees`, `second_person`, `evidence_required`, `conflict`) and changes nothing."""

    queryset = Hazard.objects.all()
    serializer_class = HazardSerializer
    parser_classes: ClassVar[list[Any]] = [JSONParser, MultiPartParser, FormParser]  # type: ignore[misc]
    action_scope: ClassVar[dict[str, str]] = {
        "transition": "view",
        "extension": "view",
        "decide_extension": "view",
        "pause": "view",
        "decide_pause": "view",
        "resume": "view",
    }

    def refine_queryset(self, queryset: Any) -> Any:
        return filter_hazards(queryset.select_related("institution"), self.request.query_params)

    @extend_schema(request=ReportSerializer, responses=HazardSerializer)
    def create(self, request: Request) -> Response:
        data = ReportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        actor = current_user(request)
        institution = get_object_or_404(Institution.objects.for_user(actor), pk=values.pop("institution"))
        key = values.pop("clause", "")
        clause = Clause.objects.filter(key=key).first() if key else None
        if key and clause is None:
            raise serializers.ValidationError({"clause": ["Unknown clause."]})
        hazard = services.report(actor, institution, clause=clause, request=request, **values)
        return Response(
            HazardSerializer(hazard, context={"request": request}).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=TransitionSerializer, responses=HazardSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str) -> Response:
        hazard = self.get_object()
        data = TransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        actor = current_user(request)
        supervisor = None
        if "supervisor" in values:
            supervisor = User.objects.for_user(actor).filter(pk=values.pop("supervisor")).first()
            if supervisor is None:
                raise serializers.ValidationError({"supervisor": ["Choose a person inside your scope."]})
        hazard = services.transition(
            actor, hazard, values.pop("action"), supervisor=supervisor, request=request, **values
        )
        return Response(HazardSerializer(hazard, context={"request": request}).data)
