from typing import Any, ClassVar

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from minan.accounts.models import User
from minan.accounts.roles import ROLE_CHOICES, ROLE_LABELS
from minan.core.api import BaseViewSet, ScopedPermission, ScopedViewSet
from minan.core.api_fields import (
    IdField,
    ScopedModelSerializer,
    ScopedPrimaryKeyRelatedField,
    ScopedSlugRelatedField,
)
from minan.core.limits import FormParser, JSONParser
from minan.core.views import current_user
from minan.institutions.models import Institution
from minan.regions.models import Region

from . import selectors, services
from .models import DutyAssignment, DutyItem, DutyPost, DutyVisit, Recurrence, SupervisionGroup


class DutyAssignmentSerializer(ScopedModelSerializer):
    cadre_name = serializers.CharField(source="cadre.display_name", read_only=True)

    class Meta:
        model = DutyAssignment
        fields = ["id", "institution", "cadre", "cadre_name", "starts_on", "ends_on", "active", "end_reason"]


class AssignSerializer(serializers.Serializer):
    institution = IdField()
    cadre = IdField()
    starts_on = serializers.DateField(required=False)


class EndSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class DutyAssignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """包保 assignments inside your scope (history included). Filters: `institution`, `cadre`, `active`.

    POST makes a cadre responsible for an institution (ending the current assignment, in one
    transaction); POST `{id}/end/` ends an active assignment with a reason."""

    queryset = DutyAssignment.objects.all()
    serializer_class = DutyAssignmentSerializer

    def refine_queryset(self, queryset: Any) -> Any:
        params = self.request.query_params
        qs = queryset.select_related("cadre")
        if (institution := params.get("institution", "")).isdigit():
            qs = qs.filter(institution_id=int(institution))
        if (cadre := params.get("cadre", "")).isdigit():
            qs = qs.filter(cadre_id=int(cadre))
        if params.get("active") in {"0", "1"}:
            qs = qs.filter(active=params["active"] == "1")
        return qs

    action_scope: ClassVar[dict[str, str]] = {"end": "change"}

    @extend_schema(request=AssignSerializer, responses=DutyAssignmentSerializer)
    def create(self, request: Request) -> Response:
        data = AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = current_user(request)
        institution = get_object_or_404(
            Institution.objects.for_user(actor, "change"), pk=data.validated_data["institution"]
        )
        cadre = User.objects.for_user(actor).filter(pk=data.validated_data["cadre"]).first()
        if cadre is None:
            raise serializers.ValidationError({"cadre": ["Choose a cadre inside your scope."]})
        assignment = services.assign_cadre(
            actor, institution, cadre, starts_on=data.validated_data.get("starts_on"), request=request
        )
        return Response(DutyAssignmentSerializer(assignment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=EndSerializer, responses=DutyAssignmentSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str) -> Response:
        assignment = self.get_object()
        data = EndSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not assignment.active:
            raise serializers.ValidationError({"non_field_errors": ["The assignment has already ended."]})
        services.end_assignment(
            current_user(request), assignment.institution, data.validated_data["reason"], request=request
        )
        assignment.refresh_from_db()
        return Response(DutyAssignmentSerializer(assignment).data)


class DutyVisitSerializer(ScopedModelSerializer):
    cadre_name = serializers.CharField(source="cadre.display_name", read_only=True)
    photos = serializers.SerializerMethodField()

    class Meta:
        model = DutyVisit
        fields = ["id", "institution", "cadre", "cadre_name", "visited_on", "checked", "findings", "photos"]

    def get_photos(self, obj: DutyVisit) -> list[str]:
        return [reverse("duty:visit_photo", args=[p.pk]) for p in obj.photos.all()]


class VisitWriteSerializer(serializers.Serializer):
    institution = IdField()
    visited_on = serializers.DateField()
    checked = serializers.CharField(max_length=2000)
    findings = serializers.CharField(max_length=4000, required=False, allow_blank=True)
    photos = serializers.ListField(
        child=serializers.FileField(), required=False, max_length=services.MAX_PHOTOS
    )


class DutyVisitViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """包保督查 visits inside your scope. POST (multipart for photos) records a visit; only the
    institution's responsible cadre may. Filters: `institution`, `month` (YYYY-MM)."""

    queryset = DutyVisit.objects.all()
    serializer_class = DutyVisitSerializer
    parser_classes: ClassVar[list[Any]] = [JSONParser, MultiPartParser, FormParser]  # type: ignore[misc]

    def refine_queryset(self, queryset: Any) -> Any:
        params = self.request.query_params
        qs = queryset.select_related("cadre").prefetch_related("photos")
        if (institution := params.get("institution", "")).isdigit():
            qs = qs.filter(institution_id=int(institution))
        month = params.get("month", "")
        if len(month) == 7 and month[:4].isdigit() and month[4] == "-" and month[5:].isdigit():
            qs = qs.filter(visited_on__year=int(month[:4]), visited_on__month=int(month[5:]))
        return qs

    @extend_schema(request=VisitWriteSerializer, responses=DutyVisitSerializer)
    def create(self, request: Request) -> Response:
        data = VisitWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = current_user(request)
        values = data.validated_data
        institution = get_object_or_404(Institution.objects.for_user(actor), pk=values["institution"])
        visit = services.record_visit(
            actor, institution, visited_on=values["visited_on"], checked=values["checked"],
            findings=values.get("findings", ""), photos=values.get("photos", []), request=request,
        )  # fmt: skip
        return Response(DutyVisitSerializer(visit).data, status=status.HTTP_201_CREATED)


# --- supervision groups (帮包督导组) -------------------------------------------------------------------------


class SupervisionGroupSerializer(ScopedModelSerializer):
    leader_name = serializers.CharField(source="leader.display_name", read_only=True)
    members: serializers.PrimaryKeyRelatedField[User] = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True
    )
    counties: serializers.SlugRelatedField[Region] = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True
    )

    class Meta:
        model = SupervisionGroup
        fields = ["id", "name", "leader", "leader_name", "members", "counties", "active"]


class SupervisionGroupWriteSerializer(serializers.Serializer):
    """Input shape only; `services.save_group` applies the rules (roles, scope, one group per county)."""

    name = serializers.CharField(max_length=100)
    # Choices come through the scoping mechanism: an out-of-scope id or code reads as unknown.
    leader = ScopedPrimaryKeyRelatedField(queryset=User.objects.all())
    members = ScopedPrimaryKeyRelatedField(queryset=User.objects.all(), many=True, required=False)
    counties = ScopedSlugRelatedField(
        slug_field="code", queryset=Region.objects.all(), many=True, allow_empty=False
    )


class DisbandSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class SupervisionGroupViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """帮包督导组 inside your scope (disbanded ones included; filter `active`). POST creates a group,
    PUT/PATCH change it, POST `{id}/disband/` disbands it with a reason. A county covered by another
    group is refused with code `county_taken`."""

    queryset = SupervisionGroup.objects.all()
    serializer_class = SupervisionGroupSerializer
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    action_scope: ClassVar[dict[str, str]] = {"disband": "change"}

    def refine_queryset(self, queryset: Any) -> Any:
        qs = queryset.select_related("leader").prefetch_related("members", "counties")
        if self.request.query_params.get("active") in {"0", "1"}:
            qs = qs.filter(active=self.request.query_params["active"] == "1")
        return qs

    def _save(self, request: Request, group: SupervisionGroup | None, *, partial: bool = False) -> Any:
        data = SupervisionGroupWriteSerializer(
            data=request.data, partial=partial, context={"request": request}
        )
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if group is not None and partial:
            values = {
                "name": group.name,
                "leader": group.leader,
                "members": list(group.members.all()),
                "counties": list(group.counties.all()),
                **values,
            }
        saved = services.save_group(
            current_user(request), group, name=values["name"], leader=values["leader"],
            members=list(values.get("members", [])), counties=list(values["counties"]), request=request,
        )  # fmt: skip
        return SupervisionGroupSerializer(self._reload(saved)).data

    def _reload(self, group: SupervisionGroup) -> SupervisionGroup:
        return SupervisionGroup.objects.prefetch_related("members", "counties").get(pk=group.pk)

    @extend_schema(request=SupervisionGroupWriteSerializer, responses={201: SupervisionGroupSerializer})
    def create(self, request: Request) -> Response:
        return Response(self._save(request, None), status=status.HTTP_201_CREATED)

    @extend_schema(request=SupervisionGroupWriteSerializer, responses=SupervisionGroupSerializer)
    def update(self, request: Request, pk: str) -> Response:
        return Response(self._save(request, self.get_object()))

    @extend_schema(request=SupervisionGroupWriteSerializer, responses=SupervisionGroupSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        return Response(self._save(request, self.get_object(), partial=True))

    @extend_schema(request=DisbandSerializer, responses=SupervisionGroupSerializer)
    @action(detail=True, methods=["post"])
    def disband(self, request: Request, pk: str) -> Response:
        group = self.get_object()
        data = DisbandSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.disband_group(current_user(request), group, data.validated_data["reason"], request=request)
        return Response(SupervisionGroupSerializer(self._reload(group)).data)


# --- duty lists (岗位责任清单) -------------------------------------------------------------------------------


class DutyItemSerializer(serializers.ModelSerializer):
    recurrence_label = serializers.CharField(source="get_recurrence_display", read_only=True)

    class Meta:
        model = DutyItem
        fields = ["number", "text", "recurrence", "recurrence_label", "task"]


class HolderSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "display_name"]


class DutyPostSerializer(serializers.ModelSerializer):
    role_label = serializers.SerializerMethodField()
    holders = HolderSerializer(source="visible_holders", many=True, read_only=True)
    items = DutyItemSerializer(many=True, read_only=True)

    class Meta:
        model = DutyPost
        fields = ["id", "code", "name", "role", "role_label", "holders", "items"]

    def get_role_label(self, obj: DutyPost) -> str:
        return str(ROLE_LABELS.get(obj.role, obj.role))


class DutyItemWriteSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=300)
    recurrence = serializers.ChoiceField(choices=Recurrence.choices, allow_blank=True, default="")
    task = serializers.ChoiceField(choices=DutyItem.Task.choices, allow_blank=True, default="")


class DutyPostWriteSerializer(serializers.Serializer):
    code = serializers.SlugField(
        max_length=40, required=False, help_text="Required to create; fixed afterwards."
    )
    name = serializers.CharField(max_length=60)
    role = serializers.ChoiceField(choices=ROLE_CHOICES, allow_blank=True, default="")
    # Holders come through the scoping mechanism: an out-of-scope id reads as unknown.
    holders = ScopedPrimaryKeyRelatedField(many=True, queryset=User.objects.all(), default=list)
    items = DutyItemWriteSerializer(
        many=True, help_text="The post's duties in order; they replace the old ones."
    )


class DutyPostViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    """Duty posts (岗位责任清单) with their numbered duties; `mine/` is the caller's own duty list.

    Not scoped: posts are CONFIGURABLE reference data shared by the whole deployment, not rows of a
    region (declared `scoped = False`, like the classification scheme's pages). Roles decide: reading
    needs `duty.view_dutypost`, POST / PUT / PATCH `duty.change_dutypost` (refusals are audited by
    `ScopedPermission`). Named holders are listed only when they are inside the caller's scope.
    Writes go through `services.save_post`, which replaces the duties and renumbers them."""

    queryset = DutyPost.objects.all()  # names the model for the permission check
    serializer_class = DutyPostSerializer
    permission_classes: ClassVar[list[Any]] = [permissions.IsAuthenticated, ScopedPermission]  # type: ignore[misc]
    scoped: ClassVar[bool] = False
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def scope_action_for(self, request: Request) -> str:
        return "view" if request.method in permissions.SAFE_METHODS else "change"

    def get_queryset(self) -> Any:
        visible = User.objects.for_user(self.request.user).order_by("display_name", "username")
        return DutyPost.objects.prefetch_related(
            Prefetch("items", queryset=DutyItem.objects.order_by("number")),
            Prefetch("holders", queryset=visible, to_attr="visible_holders"),
        ).order_by("order", "code")

    # Unpaginated: a person holds a handful of posts. `pagination_class=None` makes the schema say so
    # too (it promised a page while the answer was a plain list).
    @extend_schema(responses=DutyPostSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None)
    def mine(self, request: Request) -> Response:
        """The caller's duty list: every post they hold through a role or by name, with its duties."""
        held = selectors.posts_for(current_user(request)).values("pk")
        return Response(DutyPostSerializer(self.get_queryset().filter(pk__in=held), many=True).data)

    def _save(self, request: Request, post: DutyPost | None, *, partial: bool) -> DutyPost:
        data = DutyPostWriteSerializer(data=request.data, partial=partial, context={"request": request})
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = dict(data.validated_data)
        if post is None and not values.get("code"):
            raise serializers.ValidationError({"code": ["This field is required."]})
        if post is not None and values.get("code", post.code) != post.code:
            raise serializers.ValidationError({"code": ["The code of a post cannot be changed."]})
        if "items" in values:
            values["items"] = [
                (i["text"], i.get("recurrence", ""), i.get("task", "")) for i in values["items"]
            ]
        if post is not None:  # PATCH keeps what it does not mention
            current = {
                "code": post.code,
                "name": post.name,
                "role": post.role,
                "holders": list(post.holders.all()),
                "items": [(i.text, i.recurrence, i.task) for i in post.items.order_by("number")],
            }
            values = {**current, **values}
        return services.save_post(
            current_user(request),
            post,
            code=values["code"],
            name=values["name"],
            role=values.get("role", ""),
            holders=list(values.get("holders", [])),
            items=values["items"],
            request=request,
        )

    def _fresh(self, post: DutyPost) -> dict[str, Any]:
        return DutyPostSerializer(self.get_queryset().get(pk=post.pk)).data

    @extend_schema(request=DutyPostWriteSerializer, responses={201: DutyPostSerializer})
    def create(self, request: Request) -> Response:
        post = self._save(request, None, partial=False)
        return Response(self._fresh(post), status=status.HTTP_201_CREATED)

    @extend_schema(request=DutyPostWriteSerializer, responses=DutyPostSerializer)
    def update(self, request: Request, pk: str) -> Response:
        return Response(self._fresh(self._save(request, self.get_object(), partial=False)))

    @extend_schema(request=DutyPostWriteSerializer, responses=DutyPostSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        return Response(self._fresh(self._save(request, self.get_object(), partial=True)))
