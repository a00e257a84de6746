"""DEBUG off outside `minan runserver`, the product's own error pages, and the Content-Security-Policy
on every response."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from minan.core.management.commands.serve import child_environment

ROOT = Path(__file__).resolve().parents[3]

POLICY = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
}
# What Django's debug pages show and the product's pages never do.
DEBUG_PAGE_MARKERS = (
    "Traceback",
    "SECRET_KEY",
    "Using the URLconf",
    "DJANGO_SETTINGS_MODULE",
    "INSTALLED_APPS",
)


def directives(header: str | None) -> set[str]:
    return {part.strip() for part in (header or "").split(";") if part.strip()}


def assert_no_debug_details(body: str) -> None:
    for marker in DEBUG_PAGE_MARKERS:
        assert marker not in body, marker


# Item 9: the error pages.


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="minan.core.tests.error_urls", DEBUG=False)
def test_an_unhandled_error_answers_the_product_500_page(client: Any) -> None:
    client.raise_request_exception = False
    response = client.get("/__test__/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "<h1>服务器出错</h1>" in body
    assert "系统出现错误，已记录在日志中。请稍后重试。" in body
    assert "HTTP 500" in body
    assert "SECRET-DETAIL-7731" not in body and "RuntimeError" not in body
    assert_no_debug_details(body)
    assert directives(response.get("Content-Security-Policy")) == POLICY


@pytest.mark.django_db
def test_the_500_page_needs_no_database_and_no_request_context(
    rf: Any, django_assert_num_queries: Any
) -> None:
    from django.views.defaults import server_error

    with django_assert_num_queries(0):
        response = server_error(rf.get("/"))
    assert response.status_code == 500
    assert "<h1>服务器出错</h1>" in response.content.decode()


@pytest.mark.django_db
@override_settings(DEBUG=False)
@pytest.mark.parametrize("path", ["/p/no-such-token-0000/", "/no/such/page/"])
def test_a_missing_page_answers_the_product_404_page(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    body = response.content.decode()
    assert "<h1>页面不存在</h1>" in body and "HTTP 404" in body
    assert_no_debug_details(body)
    assert directives(response.get("Content-Security-Policy")) == POLICY


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="minan.core.tests.error_urls", DEBUG=False)
def test_a_refusal_answers_the_product_403_page(client: Any) -> None:
    response = client.get("/__test__/forbidden/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "<h1>无权访问</h1>" in body and "HTTP 403" in body
    assert "您的角色无权执行此操作，本次尝试已记录。" in body
    assert_no_debug_details(body)


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_a_foreign_host_answers_the_product_400_page(client: Any) -> None:
    client.raise_request_exception = False
    response = client.get("/accounts/login/", HTTP_HOST="attacker.example")
    assert response.status_code == 400
    body = response.content.decode()
    assert "<h1>请求有误</h1>" in body and "HTTP 400" in body
    assert "attacker.example" not in body
    assert_no_debug_details(body)


def test_serve_runs_its_children_with_debug_off_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEBUG", raising=False)
    assert child_environment()["DEBUG"] == "0"
    monkeypatch.setenv("DEBUG", "1")
    assert child_environment()["DEBUG"] == "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_minan_serve_in_development_shows_the_product_404_not_the_debug_page(tmp_path: Path) -> None:
    """`make demo` runs `minan serve` with MINAN_ENV=development and no DEBUG: the served pages run
    with DEBUG off (a missing page needs neither the database nor collected static files)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    env.update(MINAN_ENV="development", MINAN_VAR_DIR=str(tmp_path))
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "minan.cli",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--web-workers",
            "1",
            "--no-worker",
            "--no-ingest",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        status, body, headers = 0, "", {}
        for _i in range(60):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/no/such/page/", timeout=2)  # noqa: S310
            except urllib.error.HTTPError as exc:
                status, body, headers = exc.code, exc.read().decode(), dict(exc.headers)
                break
            except OSError:
                time.sleep(0.5)
        assert status == 404
        assert "<h1>页面不存在</h1>" in body
        assert_no_debug_details(body)
        assert directives(headers.get("Content-Security-Policy")) == POLICY
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


# Item 10: the policy, on every response, and templates that need nothing it refuses.


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/api/docs/", "/api/v1/institutions/", "/p/no-such-token-0000/"]
)
def test_every_response_carries_the_policy(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code in {200, 401, 403, 404}
    assert directives(response.get("Content-Security-Policy")) == POLICY


@pytest.mark.django_db
def test_the_api_docs_page_loads_its_init_script_as_a_file(client: Any) -> None:
    body = client.get("/api/docs/").content.decode()
    scripts = re.findall(r"<script([^>]*)>", body)
    assert scripts and all("src=" in attrs for attrs in scripts), scripts
    assert "<style" not in body
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


TEMPLATE_DIRS = [ROOT / "minan"]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
HANDLER_ATTRIBUTE = re.compile(r"\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.I)
STYLE_ELEMENT = re.compile(r"<style[\s>]", re.I)
JS_URL = re.compile(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", re.I)


def test_no_template_has_what_the_policy_refuses() -> None:
    """Inline scripts, on*= handlers, javascript: URLs, style attributes and <style> elements in any
    template of the project: each would be refused by the browser (and is a way in for injected code)."""
    found = []
    for path in sorted((ROOT / "minan").rglob("templates/**/*.html")):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"{% comment %}.*?{% endcomment %}|{#.*?#}", "", text, flags=re.S)
        for name, pattern in (
            ("inline script", INLINE_SCRIPT),
            ("event handler attribute", HANDLER_ATTRIBUTE),
            ("style attribute", STYLE_ATTRIBUTE),
            ("style element", STYLE_ELEMENT),
            ("javascript: URL", JS_URL),
        ):
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert found == []


@pytest.mark.django_db
def test_the_browsable_api_page_has_no_inline_style_element(rf: Any) -> None:
    """The browsable API (on in development) renders without DRF's inline <style> of code colours."""
    from rest_framework.permissions import AllowAny
    from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class Probe(APIView):
        renderer_classes = [BrowsableAPIRenderer, JSONRenderer]
        permission_classes = [AllowAny]
        authentication_classes: list[Any] = []

        def get(self, request: Any) -> Response:
            return Response({"ok": True})

    response = Probe.as_view()(rf.get("/probe/", HTTP_ACCEPT="text/html"))
    response.render()
    body = response.content.decode()
    assert "rest_framework/css/bootstrap.min.css" in body and "&quot;ok&quot;" in body
    assert not STYLE_ELEMENT.search(body)
    assert not INLINE_SCRIPT.search(body)


def test_pdf_responses_go_without_the_policy(rf: Any) -> None:
    """Chromium's built-in PDF viewer takes the PDF response's policy and shows nothing under it; the
    hazard notices and inspection reports open inline. HTML keeps the policy."""
    from django.http import HttpResponse

    from minan.core.middleware import ContentSecurityPolicyMiddleware

    def pdf(request: Any) -> HttpResponse:
        response = HttpResponse(b"%PDF-1.4\n", content_type="application/pdf")
        response["Content-Disposition"] = 'inline; filename="notice.pdf"'
        return response

    def html(request: Any) -> HttpResponse:
        return HttpResponse("<p>ok</p>")

    document = ContentSecurityPolicyMiddleware(pdf)(rf.get("/notice.pdf"))
    assert isinstance(document, HttpResponse) and "Content-Security-Policy" not in document
    page = ContentSecurityPolicyMiddleware(html)(rf.get("/"))
    assert isinstance(page, HttpResponse)
    assert directives(page["Content-Security-Policy"]) == POLICY
