"""The escalation-chain editor: the deployment's default chain for
each kind (a saved row, else `services.DEFAULT_CHAINS`), the institutions in scope with their own,
and a form for the steps (wait minutes and who is told) and the repeat.

Chains are deployment configuration, not region data (PermissionPageMixin); the institutions offered
are read through `Institution.objects.for_user`, one outside the scope is a 404. Writes go through
`services.save_chain` / `reset_chain` only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.core.views import PermissionPageMixin, current_user, deny
from minan.firewatch.models import EscalationChain
from minan.institutions.models import Institution

from .. import services
from ..forms import ChainStepsForm, recipient_choices

PERMISSION = "firewatch.change_escalationchain"


def describe(chain: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps with the cumulative minutes after the alarm and the recipients' names."""
    rows, elapsed = [], 0
    for number, step in enumerate(chain.get("steps") or [], 1):
        elapsed += int(step.get("wait_minutes") or 0)
        rows.append({
            "number": number, "wait": step.get("wait_minutes"), "at": elapsed,
            "notify": [str(services.RECIPIENTS.get(c, c)) for c in step.get("notify") or []],
        })  # fmt: skip
    return rows


def _institution(request: HttpRequest, raw: Any) -> Institution | None:
    """The institution asked for, read through the scope; '' is the deployment default. 404 outside."""
    text = str(raw or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise Http404
    found = Institution.objects.for_user(current_user(request)).filter(pk=int(text)).first()
    if found is None:
        raise Http404
    return found


def _kind(raw: Any) -> str:
    if raw not in EscalationChain.Kind.values:
        raise Http404
    return str(raw)


class ChainListView(PermissionPageMixin, View):
    permission = PERMISSION
    object_type = "firewatch.escalationchain"

    def get(self, request: HttpRequest) -> HttpResponse:
        user = current_user(request)
        saved = {c.kind: c for c in EscalationChain.objects.filter(institution__isnull=True)}
        defaults = []
        for kind, label in EscalationChain.Kind.choices:
            row = saved.get(kind)
            chain = (
                {"steps": row.steps, "repeat_minutes": row.repeat_minutes}
                if row
                else services.DEFAULT_CHAINS[kind]
            )
            defaults.append({"kind": kind, "label": label, "saved": row is not None, "chain": chain,
                             "steps": describe(chain)})  # fmt: skip
        scoped = Institution.objects.for_user(user)
        own = [
            {"row": c, "label": c.get_kind_display(), "steps": describe({"steps": c.steps}),
             "repeat_minutes": c.repeat_minutes}
            for c in EscalationChain.objects.filter(institution__in=scoped.values("pk"))
            .select_related("institution")
            .order_by("institution__name", "kind")
        ]  # fmt: skip
        context = {
            "defaults": defaults,
            "own": own,
            "institutions": scoped.order_by("name").values_list("pk", "name"),
            "kinds": EscalationChain.Kind.choices,
        }
        return render(request, "firewatch/chains.html", context)


class ChainEditView(PermissionPageMixin, View):
    """GET `?kind=fire&institution=<id>` (no institution: the default): the form, filled with the chain
    that applies now. POST saves it through `services.save_chain`; errors are shown, nothing saved."""

    permission = PERMISSION
    object_type = "firewatch.escalationchain"

    def _current(self, kind: str, institution: Institution | None) -> dict[str, Any]:
        rows = services.chains_for({institution.pk} if institution else set())
        key_own = (institution.pk if institution else None, kind)
        chain = rows.get(key_own) or rows.get((None, kind)) or services.DEFAULT_CHAINS[kind]
        return {
            "steps": list(chain["steps"]),
            "repeat_minutes": chain["repeat_minutes"],
            "own": key_own in rows,
        }

    def _render(self, request: HttpRequest, kind: str, institution: Institution | None, chain: dict[str, Any],
                error: DomainError | None = None, status: int = 200) -> HttpResponse:  # fmt: skip
        steps = list(chain["steps"])
        rows = [
            *steps,
            *([{"wait_minutes": "", "notify": []}] * max(0, min(3, ChainStepsForm.MAX_ROWS - len(steps)))),
        ]
        context = {
            "kind": kind,
            "kind_label": EscalationChain.Kind(kind).label,
            "institution": institution,
            "rows": [
                {"index": i, "wait": r.get("wait_minutes", ""), "notify": r.get("notify") or []}
                for i, r in enumerate(rows)
            ],  # fmt: skip
            "repeat_minutes": chain.get("repeat_minutes", 0),
            "own": chain.get("own", False),
            "recipients": recipient_choices(),
            "error": error,
        }
        return render(request, "firewatch/chain_form.html", context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        kind = _kind(request.GET.get("kind"))
        institution = _institution(request, request.GET.get("institution"))
        return self._render(request, kind, institution, self._current(kind, institution))

    def post(self, request: HttpRequest) -> HttpResponse:
        kind = _kind(request.POST.get("kind"))
        institution = _institution(request, request.POST.get("institution"))
        form = ChainStepsForm(request.POST)
        steps, repeat = form.steps(), form.repeat_minutes()
        try:
            services.save_chain(
                current_user(request), kind, steps, repeat, institution=institution, request=request
            )
        except OutOfScope as exc:
            raise Http404 from exc
        except NotPermitted as exc:
            deny(request, "firewatch.escalationchain", f"save {request.path}: {exc.message}")
        except DomainError as exc:
            chain = {"steps": steps, "repeat_minutes": repeat, "own": False}
            return self._render(request, kind, institution, chain, error=exc, status=400)
        messages.success(request, _("Escalation chain saved."))
        return redirect(reverse("firewatch:chains"))


class ChainResetView(PermissionPageMixin, View):
    """POST: remove the institution's own chain (or the saved default) so the next one up applies."""

    permission = PERMISSION
    object_type = "firewatch.escalationchain"
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        kind = _kind(request.POST.get("kind"))
        institution = _institution(request, request.POST.get("institution"))
        try:
            services.reset_chain(current_user(request), kind, institution=institution, request=request)
        except OutOfScope as exc:
            raise Http404 from exc
        except NotPermitted as exc:
            deny(request, "firewatch.escalationchain", f"reset {request.path}: {exc.message}")
        messages.success(request, _("Escalation chain reset."))
        return redirect(reverse("firewatch:chains"))
