"""`/api/v1/experts/`: the expert roster (专家库). Reference data, not scoped: reading needs
`inspections.view_inspectionplan` (whoever may see plans sees who can be assigned an expert survey),
writing `inspections.change_expert`; writes go through `services.save_expert`."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from minan.core.api import ReferenceViewSet
from minan.core.api_fields import IdField
from minan.core.views import current_user
from minan.hazards.models import Category

from ..models import Expert
from . import services

READ_PERMISSION = "inspections.view_inspectionplan"


class ExpertSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="user.display_name", read_only=True)
    areas = serializers.ListField(source="fields", read_only=True, help_text="hazard categories")

    class Meta:
        model = Expert
        fields = ["id", "user", "name", "organisation", "areas", "qualification", "certificate_no", "valid_until",
                  "active"]  # fmt: skip
        read_only_fields = fields


class ExpertWriteSerializer(serializers.Serializer):
    user = IdField(required=False, help_text="the account (only when adding)")
    organisation = serializers.CharField(max_length=200, required=False, allow_blank=True)
    areas = serializers.ListField(
        child=serializers.ChoiceField(choices=Category.choices), required=False, help_text="hazard categories"
    )
    qualification = serializers.CharField(max_length=200, required=False)
    certificate_no = serializers.CharField(max_length=60, required=False, allow_blank=True)
    valid_until = serializers.DateField(required=False, allow_null=True)
    active = serializers.BooleanField(required=False)


class ExpertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ReferenceViewSet):
    """The roster. POST adds an account holding the expert role; PATCH changes an entry."""

    queryset = Expert.objects.select_related("user").order_by("user__display_name")
    serializer_class = ExpertSerializer
    read_permission = READ_PERMISSION
    edit_permission = services.EDIT_PERMISSION

    @extend_schema(request=ExpertWriteSerializer, responses=ExpertSerializer)
    def create(self, request: Request) -> Response:
        data = ExpertWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        user = get_user_model().objects.filter(pk=values.pop("user", None)).first()
        if "areas" in values:
            values["fields"] = values.pop("areas")
        saved = services.save_expert(current_user(request), None, user=user, request=request, **values)
        return Response(ExpertSerializer(saved).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ExpertWriteSerializer, responses=ExpertSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        expert = self.get_object()
        data = ExpertWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("user", None)
        if "areas" in values:
            values["fields"] = values.pop("areas")
        saved = services.save_expert(current_user(request), expert, request=request, **values)
        return Response(ExpertSerializer(saved).data)
