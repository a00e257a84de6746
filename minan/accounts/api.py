from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from minan.core.api import BaseViewSet, ScopedViewSet
from minan.core.api_dates import InstantField
from minan.core.api_fields import ScopedPrimaryKeyRelatedField, ScopedSlugRelatedField
from minan.core.masking import mask_phone
from minan.core.views import current_user
from minan.institutions.models import Institution
from minan.regions.models import Region

from . import services
from .models import ApiToken, User
from .views import lockout_response


class UserSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()
    phone = serializers.SerializerMethodField()
    region: serializers.SlugRelatedField[Region] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    institution: serializers.PrimaryKeyRelatedField[Institution] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "display_name",
            "phone",
            "email",
            "region",
            "institution",
            "roles",
            "is_active",
            "last_login",
            "expires_at",
        ]

    def get_roles(self, obj: User) -> list[str]:
        return sorted(g.role for g in obj.role_grants.all())

    def get_phone(self, obj: User) -> str:
        return mask_phone(obj.phone) if obj.phone else ""


class UserWriteSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[A-Za-z0-9_.@-]{3,150}$", max_length=150, required=False)
    display_name = serializers.CharField(max_length=50)
    phone = serializers.RegexField(r"^1[3-9]\d{9}$", required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    # Choices come through the scoping mechanism: an out-of-scope code or id reads as unknown.
    region = ScopedSlugRelatedField(slug_field="code", queryset=Region.objects.all())
    institution = ScopedPrimaryKeyRelatedField(
        queryset=Institution.objects.all(), required=False, allow_null=True
    )
    expires_at = InstantField(required=False, allow_null=True)
    password = serializers.CharField(max_length=128, write_only=True, required=False)


class UserViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ScopedViewSet,
):
    """Accounts inside your scope. Phone numbers are masked. POST creates an account; PATCH changes the
    fields it sends (there is no PUT)."""

    # No Create/UpdateModelMixin: `create` and `partial_update` are the handlers, as in the other viewsets
    # with changeable rows; the mixin's `update` made the router map a PUT that `http_method_names` refused.

    queryset = User.objects.all()
    serializer_class = UserSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def refine_queryset(self, queryset: Any) -> Any:
        qs = queryset.select_related("region").prefetch_related("role_grants")
        if q := self.request.query_params.get("q", "").strip()[:50]:
            qs = qs.filter(Q(username__icontains=q) | Q(display_name__icontains=q))
        if role := self.request.query_params.get("role"):
            qs = qs.filter(role_grants__role=role).distinct()
        return qs

    def get_serializer_class(self) -> Any:
        return UserWriteSerializer if self.action in {"create", "partial_update"} else UserSerializer

    @extend_schema(request=UserWriteSerializer, responses=UserSerializer)
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = UserWriteSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "username" not in values or "password" not in values:
            raise serializers.ValidationError({"username": ["required"], "password": ["required"]})
        user = services.create_user(current_user(request), request=request, **values)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=UserWriteSerializer, responses=UserSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        target = self.get_object()
        data = UserWriteSerializer(data=request.data, partial=True, context={"request": request})
        data.is_valid(raise_exception=True)
        values = {k: v for k, v in data.validated_data.items() if k not in {"username", "password"}}
        user = services.update_user(current_user(request), target, request=request, **values)
        return Response(UserSerializer(user).data)


class ObtainTokenView(APIView):
    """Exchange username, password and (when required) a TOTP code for an API token."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"
    scoped = False  # public endpoint

    @extend_schema(
        request=inline_serializer(
            "TokenRequest",
            {
                "username": serializers.CharField(),
                "password": serializers.CharField(),
                "totp": serializers.CharField(required=False),
                "name": serializers.CharField(required=False, max_length=50),
            },
        ),
        responses=inline_serializer(
            "TokenResponse",
            {
                "token": serializers.CharField(),
                "id": serializers.IntegerField(),
                "expires_at": serializers.DateTimeField(),
            },
        ),
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        username = str(data.get("username", ""))[:150]
        password = str(data.get("password", ""))[:128]
        code = str(data.get("totp", "") or "")[:20]
        if not username or not password:
            return Response({"code": "invalid", "detail": "username and password are required"}, status=400)
        django_request = request._request
        user = authenticate(django_request, username=username, password=password)
        if getattr(django_request, "axes_locked_out", False):
            return Response(
                {"code": "locked", "detail": lockout_response(django_request).content.decode()}, status=403
            )
        if user is None:
            return Response(
                {"code": "invalid_credentials", "detail": "Wrong username or password."}, status=400
            )
        if user.needs_second_factor or services.totp_device(user) is not None:
            if not AxesProxyHandler.is_allowed(django_request, {"username": username}):
                return Response({"code": "locked", "detail": "Too many failed attempts."}, status=403)
            if not code:
                return Response({"code": "totp_required", "detail": "A TOTP code is required."}, status=400)
            if services.totp_device(user) is None or services.verify_second_factor(user, code) is None:
                user_login_failed.send(
                    sender=__name__, credentials={"username": username}, request=django_request
                )
                return Response(
                    {"code": "invalid_totp", "detail": "The TOTP code is wrong or expired."}, status=400
                )
        if user.must_change_password:
            return Response(
                {"code": "password_change_required", "detail": "Change your password in the web UI first."},
                status=403,
            )
        name = str(data.get("name", "") or "")[:50]
        token, secret = services.issue_token(user, name=name or "auth/token", request=request)
        user_logged_in.send(sender=user.__class__, request=django_request, user=user)
        return Response({"token": secret, "id": token.pk, "expires_at": token.expires_at})


class ApiTokenSerializer(serializers.ModelSerializer):
    user: serializers.PrimaryKeyRelatedField[User] = serializers.PrimaryKeyRelatedField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    active = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "user",
            "username",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "active",
        ]

    def get_active(self, obj: ApiToken) -> bool:
        return obj.is_live()


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    """API tokens: your own; a security administrator also those of users in scope (`?user=<id>`).

    DELETE revokes a token (it stays listed, with `revoked_at`). New tokens come from /auth/token/."""

    # Not region data: rows come from services.visible_tokens(), which reads users through for_user().
    scoped = False
    queryset = ApiToken.objects.none()
    serializer_class = ApiTokenSerializer
    permission_classes = [IsAuthenticated]
    http_method_names = ["get", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        qs = services.visible_tokens(current_user(self.request))
        if (owner := self.request.query_params.get("user", "")).isdigit():
            qs = qs.filter(user_id=int(owner))
        if self.request.query_params.get("active") == "1":
            qs = qs.filter(revoked_at__isnull=True)
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("user", int, description="only this user's tokens"),
            OpenApiParameter("active", str, enum=["1"], description="only tokens not revoked"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        token = self.get_object()
        services.revoke_token(current_user(request), token, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]
    scoped = False  # the signed-in user only

    @extend_schema(responses=UserSerializer)
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)


__all__ = ["ApiTokenViewSet", "MeView", "ObtainTokenView", "OpenApiParameter", "UserViewSet"]
