from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from minan.core.api import ScopedViewSet
from minan.core.api_fields import ScopedModelSerializer, ScopedSlugRelatedField
from minan.core.masking import mask_phone
from minan.core.views import current_user
from minan.regions.models import Region

from . import rules, services
from .models import Institution, Ownership, Subtype
from .selectors import filter_institutions

FILTERS = [
    OpenApiParameter("q", str, description="name, USCC or address"),
    OpenApiParameter(
        "region", str, description="region code (county or township); includes everything below"
    ),
    OpenApiParameter("kind", str, enum=Institution.Kind.values),
    OpenApiParameter("status", str, enum=Institution.Status.values),
    OpenApiParameter("class", str, description="risk class code (effective class)"),
    OpenApiParameter("star", int, description="star grade 0–5"),
    OpenApiParameter("standardised", str, enum=["0", "1"]),
    OpenApiParameter("missing_commissioners", str, enum=["1"]),
    OpenApiParameter("uninsured", str, enum=["1"]),
    OpenApiParameter(
        "sort", str, description="name, -name, region, beds, -beds, star, -star, class, -class, updated"
    ),
]


class InstitutionSerializer(serializers.ModelSerializer):
    region: serializers.SlugRelatedField[Region] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    subtype: serializers.SlugRelatedField[Subtype] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    ownership: serializers.SlugRelatedField[Ownership] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    risk_class = serializers.SerializerMethodField()
    contact_phone = serializers.SerializerMethodField()

    class Meta:
        model = Institution
        fields = [
            "id", "name", "kind", "subtype", "ownership", "region", "uscc", "address", "contact_name", "contact_phone",
            "legal_representative", "beds", "residents", "staff_count", "opened_on", "filing_status",
            "fire_acceptance", "building_floors", "building_structure", "construction_year", "star_grade",
            "star_grade_date", "fire_standardised", "fire_standardised_date", "latitude", "longitude", "status",
            "risk_class", "updated_at",
        ]  # fmt: skip

    def get_risk_class(self, obj: Institution) -> str | None:
        effective = obj.effective_class
        return effective.code if effective else None

    def get_contact_phone(self, obj: Institution) -> str:
        return mask_phone(obj.contact_phone) if obj.contact_phone else ""


class InstitutionWriteSerializer(ScopedModelSerializer):
    # Out-of-scope region codes read as unknown, like everywhere else; subtypes and ownerships are
    # reference data of the whole deployment.
    region = ScopedSlugRelatedField(slug_field="code", queryset=Region.objects.all())
    subtype = ScopedSlugRelatedField(
        slug_field="code", queryset=Subtype.objects.all(), required=False, allow_null=True, reference=True
    )
    ownership = ScopedSlugRelatedField(
        slug_field="code", queryset=Ownership.objects.all(), required=False, allow_null=True, reference=True
    )

    class Meta:
        model = Institution
        fields = [f for f in InstitutionSerializer.Meta.fields if f not in {"id", "risk_class", "updated_at"}]
        extra_kwargs: dict[str, Any] = {"uscc": {"validators": []}}

    def validate_uscc(self, value: str | None) -> str | None:
        if value:
            message = rules.uscc_error(value)
            if message:
                raise serializers.ValidationError(message)
            return value.strip().upper()
        return None


@extend_schema_view(list=extend_schema(parameters=FILTERS))
class InstitutionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ScopedViewSet,
):
    """Institutions inside your scope, with the list filters of the registry page. Phones are masked.
    POST creates an institution; PATCH changes the fields it sends (there is no PUT)."""

    # No Create/UpdateModelMixin: `create` and `partial_update` are the handlers, as in the other viewsets
    # with changeable rows; the mixin's `update` made the router map a PUT that `http_method_names` refused.

    queryset = Institution.objects.all()
    serializer_class = InstitutionSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def refine_queryset(self, queryset: Any) -> Any:
        return filter_institutions(queryset, self.request.query_params)

    def get_serializer_class(self) -> Any:
        return (
            InstitutionWriteSerializer
            if self.action in {"create", "partial_update"}
            else InstitutionSerializer
        )

    @extend_schema(request=InstitutionWriteSerializer, responses=InstitutionSerializer)
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = InstitutionWriteSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        institution = services.create_institution(
            current_user(request), request=request, **data.validated_data
        )
        return Response(InstitutionSerializer(institution).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=InstitutionWriteSerializer, responses=InstitutionSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        target = self.get_object()
        data = InstitutionWriteSerializer(
            target, data=request.data, partial=True, context={"request": request}
        )
        data.is_valid(raise_exception=True)
        institution = services.update_institution(
            current_user(request), target, request=request, **data.validated_data
        )
        return Response(InstitutionSerializer(institution).data)
