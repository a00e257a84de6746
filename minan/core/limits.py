"""Limits on what a request may carry: JSON bodies (size and depth) and integers (64-bit signed).

Hostile input must be refused with a structured 400, never reach the database or the JSON decoder's
recursion: a body nested 100,000 levels deep makes `json.loads` raise RecursionError, and an id above
2**63 - 1 makes SQLite raise OverflowError (PostgreSQL: "bigint out of range"), both a 500.

- `loads()` is the one JSON decoder for request bodies: size first, then depth (a scan that never
  recurses), then every integer literal inside the 64-bit range. `JSONParser` (every API view, through
  REST_FRAMEWORK's DEFAULT_PARSER_CLASSES) and the ingest push endpoint use it; MQTT payloads get the
  same depth check. (DRF reads a JSON or form body through `request.body`, so Django's
  DATA_UPLOAD_MAX_MEMORY_SIZE applies first; minan.core.api's exception handler answers it as 413
  `body_too_large`. The parsers keep their own limits should DRF hand them the stream instead.)
- `QueryIntegerMiddleware` refuses, for every page and API route, a query parameter that looks like an
  id to the filters (`str.isdigit()`) but is not one: above 2**63 - 1, or digits other than 0-9.
- `parse_int64()` is the check itself, for code that turns a string into an id.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Mapping
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, parsers
from rest_framework.settings import api_settings

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# Query parameters that are free text: a long number typed into a search box is not an id.
TEXT_PARAMETERS = frozenset({"q", "search", "since", "next"})


def parse_int64(text: Any) -> int | None:
    """The integer `text` spells with ASCII digits (and an optional leading -), if it fits 64 bits signed."""
    value = str(text).strip()
    digits = value[1:] if value.startswith("-") else value
    if not digits or len(digits) > 19 or not (digits.isascii() and digits.isdigit()):
        return None
    number = int(value)
    return number if INT64_MIN <= number <= INT64_MAX else None


class BodyRefused(Exception):
    """A request body refused before it is used; `code` is stable for API clients."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def max_json_depth() -> int:
    return int(getattr(settings, "MINAN_API_MAX_JSON_DEPTH", 32))


def max_body_bytes() -> int | None:
    """Form bodies: Django's DATA_UPLOAD_MAX_MEMORY_SIZE (None: no limit)."""
    return getattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", None)


def max_json_bytes() -> int:
    """JSON bodies: MINAN_API_MAX_JSON_BYTES, never more than DATA_UPLOAD_MAX_MEMORY_SIZE."""
    limit = int(getattr(settings, "MINAN_API_MAX_JSON_BYTES", 2 * 1024 * 1024))
    upload = max_body_bytes()
    return limit if upload is None else min(limit, upload)


_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether the JSON text nests arrays and objects more than `limit` deep, found without parsing
    (so without recursion) and at C speed: strings are cut out, the brackets left are summed."""
    if "\\" in text:  # escapes first, so that every quote left starts or ends a string
        text = text.replace("\\\\", "").replace('\\"', "")
    outside = "".join(text.split('"')[::2]) if '"' in text else text
    brackets = outside.encode("utf-8", "ignore").translate(None, _NOT_BRACKET)
    if len(brackets) <= limit:
        return False
    if re.search(rb"[\[{]{%d}" % (limit + 1), brackets):  # the usual attack: a run of openers
        return True
    return max(accumulate(memoryview(brackets.translate(_STEP)).cast("b"))) > limit


def _bounded_int(literal: str) -> int:
    number = parse_int64(literal)
    if number is None:
        raise BodyRefused(
            "number_out_of_range",
            _("A number in the body is outside the range of 64-bit integers (%(min)d to %(max)d).")
            % {"min": INT64_MIN, "max": INT64_MAX},
        )
    return number


def _no_constant(name: str) -> Any:
    raise BodyRefused(
        "parse_error", _("The body is not valid JSON (%(name)s is not allowed).") % {"name": name}
    )


def too_large(limit: int) -> BodyRefused:
    return BodyRefused(
        "body_too_large",
        _("The request body may be at most %(size)d bytes.") % {"size": limit},
        status=413,
    )


def loads(raw: bytes | str, *, max_depth: int | None = None, strict: bool = True) -> Any:
    """Decode a JSON request body within the limits; BodyRefused (code, message, status) otherwise."""
    limit = max_json_bytes()
    if len(raw) > limit:
        raise too_large(limit)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise BodyRefused("parse_error", _("The body is not valid UTF-8.")) from None
    depth = max_depth if max_depth is not None else max_json_depth()
    if json_depth_exceeds(text, depth):
        raise BodyRefused(
            "body_too_deep",
            _("The JSON body may nest arrays and objects at most %(depth)d levels deep.") % {"depth": depth},
        )
    try:
        if strict:
            return json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
        return json.loads(text, parse_int=_bounded_int)
    except RecursionError:  # not reached within the depth limit; kept so no decoder path is a 500
        raise BodyRefused("body_too_deep", _("The JSON body is nested too deeply.")) from None
    except ValueError as problem:
        raise BodyRefused(
            "parse_error", _("The body is not valid JSON: %(problem)s") % {"problem": problem}
        ) from None


class RequestBodyRefused(exceptions.APIException):
    """BodyRefused as the API's structured error (the exception handler shapes it)."""

    status_code = 400
    default_code = "parse_error"
    default_detail = gettext_lazy("The request body was refused.")

    def __init__(self, refused: BodyRefused) -> None:
        super().__init__(detail=refused.message, code=refused.code)
        self.status_code = refused.status


def read_body(stream: Any, content_length: Any, limit: int | None) -> bytes:
    """The raw body from a stream, refused as soon as it is known to exceed `limit` bytes."""
    try:
        declared = int(content_length or 0)
    except (TypeError, ValueError):
        declared = 0
    if limit is not None and declared > limit:
        raise too_large(limit)
    raw = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise too_large(limit)
    return bytes(raw)


def _content_length(parser_context: Mapping[str, Any] | None) -> Any:
    request = (parser_context or {}).get("request")
    return getattr(request, "META", {}).get("CONTENT_LENGTH") if request is not None else None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the size, depth and integer limits of `loads()`."""

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            raw = read_body(stream, _content_length(parser_context), max_json_bytes())
            encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
            try:
                text = raw.decode(encoding)
            except (LookupError, UnicodeDecodeError):
                raise BodyRefused("parse_error", _("The body is not valid UTF-8.")) from None
            return loads(text, strict=api_settings.STRICT_JSON)
        except BodyRefused as refused:
            raise RequestBodyRefused(refused) from None


class FormParser(parsers.FormParser):
    """DRF's form parser held to DATA_UPLOAD_MAX_MEMORY_SIZE, however DRF hands it the body."""

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            raw = read_body(stream, _content_length(parser_context), max_body_bytes())
        except BodyRefused as refused:
            raise RequestBodyRefused(refused) from None
        return super().parse(io.BytesIO(raw), media_type, parser_context)


def _api_request(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


class QueryIntegerMiddleware:
    """A query parameter that the filters would take for an id (`isdigit()`) must be one.

    Filters across pages and API routes do `if value.isdigit(): qs.filter(x_id=int(value))`; a value of
    twenty digits then overflows the database driver, and "²" (a digit to `isdigit()`) fails `int()`.
    Both are refused here once, for every route, before any view runs: 400, structured for the API
    (`{"code": "invalid", "detail", "field"}`), the product's 400 page for the UI.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                # PostgreSQL keeps no NUL in text: a filter on it would be a 500.
                field = name.replace("\x00", "")
                detail = _("%(name)s may not contain NUL (0x00) characters.") % {"name": field}
                if _api_request(request):
                    return JsonResponse({"code": "invalid", "detail": detail, "field": field}, status=400)
                raise BadRequest(detail)
            if name in TEXT_PARAMETERS:
                continue
            for value in values:
                text = value.strip()
                if text.isdigit() and parse_int64(text) is None:
                    detail = _("%(name)s must be a whole number between 0 and %(max)d.") % {
                        "name": name,
                        "max": INT64_MAX,
                    }
                    if _api_request(request):
                        return JsonResponse({"code": "invalid", "detail": detail, "field": name}, status=400)
                    raise BadRequest(detail)
        return self.get_response(request)
