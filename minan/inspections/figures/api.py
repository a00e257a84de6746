"""`/api/v1/inspection-figures/`: the inspection figures of the caller's scope for a period
(`selectors.figures`)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from minan.core.api import ScopedViewSet
from minan.core.views import current_user

from ..models import Inspection
from . import selectors


class CoverageSerializer(serializers.Serializer):
    planned = serializers.IntegerField(help_text="tasks due in the period, cancelled ones left out")
    done = serializers.IntegerField(help_text="of `planned`, done")
    on_time = serializers.IntegerField(help_text="of `done`, done on or before the day due (local date)")
    late = serializers.IntegerField(help_text="of `done`, done after the day due")
    missed = serializers.IntegerField(help_text="of `planned`, missed")
    open = serializers.IntegerField(help_text="of `planned`, still to do")
    done_rate = serializers.FloatField(allow_null=True, help_text="done / planned, percent")
    on_time_rate = serializers.FloatField(allow_null=True, help_text="on_time / planned, percent")
    adhoc = serializers.IntegerField(help_text="inspections submitted in the period not from a task")


class KindCoverageSerializer(CoverageSerializer):
    kind = serializers.CharField(source="key")
    name = serializers.CharField()


class CountyCoverageSerializer(CoverageSerializer):
    code = serializers.CharField(source="key")
    name = serializers.CharField()


class ResultsSerializer(serializers.Serializer):
    passed = serializers.IntegerField(help_text="result `pass`")
    findings = serializers.IntegerField(help_text="result `findings` (pass with findings)")
    failed = serializers.IntegerField(help_text="result `fail`")
    total = serializers.IntegerField(help_text="submitted in the period")


class KindResultsSerializer(ResultsSerializer):
    kind = serializers.CharField(source="key")
    name = serializers.CharField()


class CountyResultsSerializer(ResultsSerializer):
    code = serializers.CharField(source="key")
    name = serializers.CharField()


class ComplianceSerializer(serializers.Serializer):
    institutions = serializers.IntegerField(help_text="institutions with a self-inspection task due")
    due = serializers.IntegerField(help_text="self-inspection tasks due")
    on_time = serializers.IntegerField(help_text="of `due`, done on time")
    average = serializers.FloatField(
        allow_null=True, help_text="average of the institutions' compliance rates, percent"
    )


class CountyComplianceSerializer(ComplianceSerializer):
    code = serializers.CharField(source="key")
    name = serializers.CharField()


class InstitutionComplianceSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="institution_id")
    name = serializers.CharField()
    county = serializers.CharField(help_text="county code")
    county_name = serializers.CharField()
    due = serializers.IntegerField()
    on_time = serializers.IntegerField()
    rate = serializers.FloatField(help_text="on_time / due, percent")


class CoverageSectionSerializer(serializers.Serializer):
    totals = CoverageSerializer(source="coverage")
    kinds = KindCoverageSerializer(source="coverage_by_kind", many=True)
    counties = CountyCoverageSerializer(source="coverage_by_county", many=True)


class ResultsSectionSerializer(serializers.Serializer):
    totals = ResultsSerializer(source="results")
    kinds = KindResultsSerializer(source="results_by_kind", many=True)
    counties = CountyResultsSerializer(source="results_by_county", many=True)


class ComplianceSectionSerializer(serializers.Serializer):
    due_until = serializers.DateField(help_text="tasks due up to this day count: min(`date_to`, today)")
    totals = ComplianceSerializer(source="compliance")
    counties = CountyComplianceSerializer(source="compliance_by_county", many=True)
    lowest = InstitutionComplianceSerializer(
        source="lowest_compliance",
        many=True,
        help_text=f"the {selectors.TOP_INSTITUTIONS} institutions with the lowest compliance",
    )


@extend_schema_serializer(many=False)  # one object, although it answers the `list` action
class InspectionFiguresSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    today = serializers.DateField()
    coverage = CoverageSectionSerializer(source="*")
    results = ResultsSectionSerializer(source="*")
    compliance = ComplianceSectionSerializer(source="*")


ERROR = inline_serializer(
    "InspectionFiguresError",
    {
        "code": serializers.CharField(help_text="`invalid_date` or `invalid_period`"),
        "detail": serializers.CharField(),
        "field": serializers.CharField(help_text="`from` or `to`"),
    },
)


class InspectionFiguresViewSet(ScopedViewSet):
    """Inspection figures of your scope for the period `from`–`to` (local dates, both included;
    default 1 January to today): coverage of the planned tasks (planned, done, on time, missed, ad hoc
    inspections) by kind and county, results of the submitted inspections by kind and county, and
    self-inspection compliance by county with the institutions lowest first. A malformed date answers
    400 (`invalid_date`, with `field`); a start after the end 400 (`invalid_period`)."""

    queryset = Inspection.objects.all()  # names the model for the permission check; rows come from for_user()
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="first day (default: 1 January)"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="last day (default: today)"),
        ],
        responses={200: InspectionFiguresSerializer, 400: ERROR},
    )
    def list(self, request: Request) -> Response:
        today = timezone.localdate()
        date_from, date_to = selectors.parse_period(request.query_params, today)
        report = selectors.figures(current_user(request), date_from, date_to, today=today)
        return Response(InspectionFiguresSerializer(report).data)
