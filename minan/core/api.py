"""The base viewsets (scoped data, reference data) and the API's structured errors."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import DataError
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, permissions, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from minan.core.audit.services import record_denial
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.core.scoping import permission_for

ACTION_FOR_METHOD = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": "view",
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


class ScopedPermission(permissions.BasePermission):
    """The user's roles must grant the action on the viewset's model."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        action = view.scope_action_for(request)
        model: Any = cast(Any, view).queryset.model
        if request.user.has_perm(permission_for(model, action)):
            return True
        record_denial(f"{action} {request.path}", request=request, object_type=model._meta.label_lower)
        return False


class ReadOrEditPermission(permissions.BasePermission):
    """Reference data of the whole deployment (not scoped): GET and HEAD need the view's
    `read_permission`, every write its `edit_permission`. A refusal is a 403, audited against the view's
    `audit_object_type` (default: its model)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        reading = request.method in permissions.SAFE_METHODS
        needed: str = view.read_permission if reading else view.edit_permission
        if request.user.has_perm(needed):
            return True
        object_type = getattr(view, "audit_object_type", "") or view.queryset.model._meta.label_lower
        record_denial(f"{needed} {request.method} {request.path}", request=request, object_type=object_type)
        return False


class BaseViewSet(viewsets.GenericViewSet):
    """Base of every API viewset."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # A `.json` URL passes `format`, which content negotiation has now read (`format_kwarg`). The
        # handlers take only what their URL names; DRF calls them with this same dict, so drop it here.
        self.kwargs.pop(api_settings.FORMAT_SUFFIX_KWARG, None)


class ReferenceViewSet(BaseViewSet):
    """Base of the viewsets on reference data of the whole deployment (criteria, checklists, the expert
    roster): not scoped; reads need the view's `read_permission`, writes its `edit_permission`."""

    permission_classes: ClassVar[list[Any]] = [permissions.IsAuthenticated, ReadOrEditPermission]  # type: ignore[misc]
    scoped: ClassVar[bool] = False
    read_permission: ClassVar[str]
    edit_permission: ClassVar[str]


class ScopedViewSet(BaseViewSet):
    """Base of every API viewset on scoped data: every read goes through for_user()."""

    permission_classes: ClassVar[list[Any]] = [permissions.IsAuthenticated, ScopedPermission]  # type: ignore[misc]
    scoped: ClassVar[bool] = True

    def scope_action_for(self, request: Request) -> str:
        custom = getattr(self, "action_scope", {}).get(self.action)
        return custom or ACTION_FOR_METHOD.get(request.method or "GET", "view")

    def get_queryset(self) -> QuerySet[Any]:
        declared: Any = cast(Any, self).queryset  # names the model; rows come only from for_user()
        model: Any = declared.model
        scoped = model.objects.for_user(self.request.user, self.scope_action_for(self.request))
        return self.refine_queryset(scoped)

    def refine_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Hook for select_related, annotations and filters on top of the scoped rows."""
        return queryset


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Structured errors: {"code": ..., "detail": ..., "field": ...}; out of scope is a plain 404."""
    if isinstance(exc, OutOfScope):
        exc = Http404()
    if isinstance(exc, DomainError):
        code = status.HTTP_403_FORBIDDEN if isinstance(exc, NotPermitted) else status.HTTP_400_BAD_REQUEST
        body: dict[str, Any] = {"code": exc.code, "detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        if exc.details is not None:
            body["details"] = exc.details
        return Response(body, status=code)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    # Django's own body limits (DATA_UPLOAD_MAX_MEMORY_SIZE / _NUMBER_FIELDS / _NUMBER_FILES), met while DRF reads the body:
    # a structured refusal like the JSON limits of minan.core.limits, not Django's HTML 400.
    if isinstance(exc, RequestDataTooBig):
        body = {"code": "body_too_large", "detail": _("The request body is too large.")}
        return Response(body, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, TooManyFieldsSent):
        body = {"code": "too_many_fields", "detail": _("The form has too many fields.")}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, TooManyFilesSent):
        body = {"code": "too_many_files", "detail": _("The request has too many files.")}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    # PostgreSQL keeps no NUL (0x00) character in text (SQLite does). One that got past the serializers
    # (DRF's CharField refuses it; login names, lookups by code and raw body fields do not) is the
    # client's error, not a 500; the statement failed before reaching the database.
    if isinstance(exc, DataError) and "NUL (0x00)" in str(exc):
        body = {"code": "invalid", "detail": _("Text may not contain NUL (0x00) characters.")}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        detail = response.data
        if isinstance(exc, exceptions.ValidationError):
            response.data = {"code": "invalid", "detail": "Invalid input.", "errors": detail}
        else:
            codes = exc.get_codes()
            response.data = {
                "code": codes if isinstance(codes, str) else "error",
                "detail": detail.get("detail", detail) if isinstance(detail, dict) else detail,
            }
    return response
