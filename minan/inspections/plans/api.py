"""`/api/v1/inspection-plans/` and `/api/v1/inspection-tasks/`: plans (list, read, create, change,
generate now) and their tasks (list with the page's filters, read, assign). Every read goes through
`for_user`; every write through `services`."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from minan.accounts.models import User
from minan.core.api import ScopedViewSet
from minan.core.api_fields import IdField
from minan.core.views import current_user
from minan.institutions.models import Institution
from minan.regions.models import Region

from ..models import InspectionPlan, InspectionTask, Kind
from . import selectors, services


class PlanSerializer(serializers.ModelSerializer):
    region = serializers.CharField(source="region.code", read_only=True)
    institutions: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    task_counts = serializers.SerializerMethodField()

    class Meta:
        model = InspectionPlan
        fields = ["id", "name", "template_code", "kind", "cadence", "region", "institution_kinds", "risk_classes",
                  "institutions", "due_working_days", "auto_assign", "starts_on", "ends_on", "active", "created_by",
                  "created_at", "updated_at", "task_counts"]  # fmt: skip
        read_only_fields = fields

    def get_task_counts(self, obj: InspectionPlan) -> dict[str, int]:
        counts: dict[int, dict[str, int]] = self.context.get("counts", {})
        return (
            counts.get(obj.pk)
            or selectors.counts_by_plan(
                InspectionTask.objects.for_user(self.context["request"].user), [obj.pk]
            )[obj.pk]
        )


class PlanWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    template_code = serializers.CharField(max_length=40, help_text="checklist family code, e.g. fire-monthly")
    kind = serializers.ChoiceField(choices=Kind.choices)
    cadence = serializers.ChoiceField(choices=InspectionPlan.Cadence.choices)
    region = serializers.CharField(
        required=False, allow_blank=True, help_text="region code; default: your own"
    )
    institution_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=Institution.Kind.choices), required=False
    )
    risk_classes = serializers.ListField(child=serializers.CharField(max_length=10), required=False)
    institutions = serializers.ListField(child=IdField(), required=False)
    due_working_days = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=250)
    auto_assign = serializers.BooleanField(required=False)
    starts_on = serializers.DateField()
    ends_on = serializers.DateField(required=False, allow_null=True)


class TaskSerializer(serializers.ModelSerializer):
    institution_name = serializers.CharField(source="institution.name", read_only=True)
    plan_name = serializers.CharField(source="plan.name", read_only=True)
    assignee_name = serializers.CharField(
        source="assignee.display_name", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = InspectionTask
        fields = ["id", "plan", "plan_name", "institution", "institution_name", "kind", "period_start", "period_end",
                  "due_on", "assignee", "assignee_name", "status", "done_at", "escalation_step", "created_at"]  # fmt: skip
        read_only_fields = fields


class TaskAssignSerializer(serializers.Serializer):
    user = IdField(allow_null=True, help_text="the person's id; null = unassigned")


class GeneratedSerializer(serializers.Serializer):
    created = serializers.IntegerField()


TASK_FILTERS = [
    OpenApiParameter("status", str, description="a status, or `todo` (open or missed)"),
    OpenApiParameter("kind", str, enum=Kind.values),
    OpenApiParameter("county", str, description="region code: tasks of that region and below"),
    OpenApiParameter("plan", int),
    OpenApiParameter("institution", int),
    OpenApiParameter("assignee", str, description="a person's id, `me` or `none` (unassigned)"),
    OpenApiParameter("due_from", dt.date),
    OpenApiParameter("due_to", dt.date),
    OpenApiParameter("missed", bool, description="missed tasks only"),
    OpenApiParameter("unassigned", bool, description="tasks still to do that nobody has"),
    OpenApiParameter(
        "mine", bool, description="the caller's own tasks (institution staff: their self-inspections)"
    ),
]


def _plan_fields(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    """Serializer values → `services.save_plan` arguments; the region is read through the caller's scope."""
    values = dict(data)
    if "region" in values:
        code = values.pop("region")
        region = None
        if code:
            region = Region.objects.for_user(current_user(request)).filter(code=code).first()
            if region is None:
                raise serializers.ValidationError({"region": ["Choose a region inside your scope."]})
        values["region"] = region
    return values


class InspectionPlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Inspection plans inside your scope, each with its tasks per status (inside your scope). POST
    creates one (planners); PATCH changes what it sends, from the next period on; POST
    `{id}/generate/` makes the current period's tasks now. A refusal answers 400 with the field."""

    queryset = InspectionPlan.objects.all()
    serializer_class = PlanSerializer
    action_scope: ClassVar[dict[str, str]] = {"generate": "change"}

    def refine_queryset(self, queryset: Any) -> Any:
        return (
            queryset.select_related("region")
            .prefetch_related("institutions")
            .order_by("-active", "name", "id")
        )

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        page = getattr(self, "_page", None)
        if page is not None:
            context["counts"] = selectors.counts_by_plan(
                InspectionTask.objects.for_user(self.request.user), [p.pk for p in page]
            )
        return context

    def paginate_queryset(self, queryset: Any) -> Any:
        self._page = super().paginate_queryset(queryset)
        return self._page

    def _answer(self, request: Request, plan: InspectionPlan, code: int = status.HTTP_200_OK) -> Response:
        plan = InspectionPlan.objects.for_user(request.user).select_related("region").get(pk=plan.pk)
        return Response(PlanSerializer(plan, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=PlanWriteSerializer, responses=PlanSerializer)
    def create(self, request: Request) -> Response:
        data = PlanWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = services.save_plan(
            current_user(request), None, request=request, **_plan_fields(request, data.validated_data)
        )
        return self._answer(request, plan, status.HTTP_201_CREATED)

    @extend_schema(request=PlanWriteSerializer(partial=True), responses=PlanSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        plan = self.get_object()
        data = PlanWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        plan = services.save_plan(
            current_user(request), plan, request=request, **_plan_fields(request, data.validated_data)
        )
        return self._answer(request, plan)

    @extend_schema(request=None, responses=GeneratedSerializer)
    @action(detail=True, methods=["post"])
    def generate(self, request: Request, pk: str) -> Response:
        plan = self.get_object()
        made = services.generate_now(current_user(request), plan, request=request)
        return Response({"created": made})


@extend_schema(parameters=TASK_FILTERS)
class InspectionTaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Inspection tasks inside your scope, by due day, with the task page's filters. POST
    `{id}/assign/` `{"user": id}` gives a task to someone (null: to nobody); refused with 400 and the
    reason (e.g. `performer`: a cross inspection to an officer of the inspected county)."""

    queryset = InspectionTask.objects.all()
    serializer_class = TaskSerializer
    action_scope: ClassVar[dict[str, str]] = {"assign": "change"}

    def refine_queryset(self, queryset: Any) -> Any:
        user = current_user(self.request)
        qs = queryset.select_related("institution", "plan", "assignee")
        if selectors.truthy(self.request.query_params.get("mine")):
            qs = selectors.my_tasks(qs, user)
        return selectors.filter_tasks(qs, self.request.query_params, user)

    @extend_schema(request=TaskAssignSerializer, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str) -> Response:
        task = self.get_object()
        data = TaskAssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = current_user(request)
        person = None
        if data.validated_data["user"] is not None:
            person = User.objects.for_user(actor).filter(pk=data.validated_data["user"]).first()
            if person is None:
                raise serializers.ValidationError({"user": ["Choose a person inside your scope."]})
        task = services.assign(actor, task, person, request=request)
        found = get_object_or_404(self.get_queryset(), pk=task.pk)
        return Response(TaskSerializer(found).data)
