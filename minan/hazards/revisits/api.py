"""`/api/v1/hazard-revisits/`: 回头看 inside your scope, drawing and recording outcomes."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from minan.core.api import ScopedViewSet
from minan.core.views import current_user
from minan.hazards.models import Revisit, RevisitDraw

from . import services


class RevisitSerializer(serializers.ModelSerializer):
    class Meta:
        model = Revisit
        fields = ["id", "draw", "hazard", "due_on", "outcome", "checked_by", "checked_at", "note"]
        read_only_fields = fields


class DrawSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    general_share = serializers.IntegerField(min_value=0, max_value=100, required=False)
    seed = serializers.CharField(max_length=64, required=False)


class DrawResultSerializer(serializers.ModelSerializer):
    revisits = RevisitSerializer(many=True, read_only=True)

    class Meta:
        model = RevisitDraw
        fields = [
            "id",
            "period_from",
            "period_to",
            "general_share",
            "seed",
            "candidates",
            "drawn_at",
            "revisits",
        ]
        read_only_fields = fields


class OutcomeSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=[Revisit.Outcome.PASSED, Revisit.Outcome.FAILED])
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class RevisitViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """回头看 inside your scope (`?outcome=pending|passed|failed`). `POST draw/` draws the hazards closed
    in a period (every major one and `general_share` % of the general ones; the seed and the candidates
    are returned so the draw can be recomputed); `POST {id}/record/` records the outcome — a recurred
    problem reopens the hazard."""

    queryset = Revisit.objects.all()
    serializer_class = RevisitSerializer
    action_scope: ClassVar[dict[str, str]] = {"draw": "view", "record": "view"}

    def refine_queryset(self, queryset: Any) -> Any:
        outcome = self.request.query_params.get("outcome", "")
        return queryset.filter(outcome=outcome) if outcome in Revisit.Outcome.values else queryset

    @extend_schema(request=DrawSerializer, responses=DrawResultSerializer)
    @action(detail=False, methods=["post"])
    def draw(self, request: Request) -> Response:
        data = DrawSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        made = services.draw_revisits(
            current_user(request), values["date_from"], values["date_to"],
            general_share=values.get("general_share"), seed=values.get("seed"), request=request,
        )  # fmt: skip
        return Response(DrawResultSerializer(made).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OutcomeSerializer, responses=RevisitSerializer)
    @action(detail=True, methods=["post"])
    def record(self, request: Request, pk: str) -> Response:
        revisit = self.get_object()
        data = OutcomeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        revisit = services.record_revisit(
            current_user(request), revisit, data.validated_data["outcome"], data.validated_data.get("note", ""),
            request=request,
        )  # fmt: skip
        return Response(RevisitSerializer(revisit).data)
