"""Public pages (anonymous). Nothing here reads through the scoping mechanism: the token is the key,
and only whitelisted fields are shown."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from minan.core.audit.services import client_ip
from minan.institutions.codes.render import region_label
from minan.institutions.models import Institution

from . import services

TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,32}")


def public_fields(institution: Institution) -> dict[str, Any]:
    """The only facts of an institution a public page shows (no phone, people or identifiers)."""
    return {
        "name": institution.name,
        "kind": institution.get_kind_display(),
        "region": region_label(institution),
        "address": institution.address,
    }


@method_decorator(never_cache, name="dispatch")
class PublicCodeView(View):
    """`/p/<token>/`, what an institution's QR code opens.

    Unknown, rotated and revoked tokens, and closed institutions, answer 404 and are not counted; a
    valid one is counted in the cache (`services.record`, no database write until a fold). More than
    PUBLIC_RATE_PER_MINUTE requests a minute from one client address answer 429 and are not counted.
    The full public page (disclosures, complaints) comes in a later issue; this one shows a few
    whitelisted fields.
    """

    scoped: ClassVar[bool] = False  # public: the token is the key; no scoped data is served
    template_name = "public/code.html"

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        if not services.allow(client_ip(request)):
            response = render(request, "public/too_many.html", status=429)
            response["Retry-After"] = "60"
            return response
        found = (
            Institution.objects.select_related("region").filter(public_token=token).first()
            if TOKEN_SHAPE.fullmatch(token)
            else None
        )
        if found is None or not found.public_code_active or found.status == Institution.Status.CLOSED:
            raise Http404
        services.record(found.pk)
        return render(request, self.template_name, {"institution": public_fields(found)})
