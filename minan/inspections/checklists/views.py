"""Checklist pages: the families with their published version, draft and history; a version with
its sections and items; the editors of a draft; publishing, new versions, xlsx export and import.

Checklists are reference data of the whole deployment (not scoped): `inspections.view_inspection` reads,
`inspections.change_checklisttemplate` edits. Every write goes through `services` (or `xlsx`
for the import), which refuses any change to a published or retired version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.contrib import messages
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from minan.core.errors import DomainError
from minan.core.export import sheets_response
from minan.core.forms import add_refusal
from minan.core.views import PermissionPageMixin, current_user
from minan.core.xlsx import ImportRefused, error_table
from minan.institutions.models import Institution

from ..models import ChecklistItem, ChecklistSection, ChecklistTemplate, Kind
from . import services, xlsx
from .forms import ChecklistForm, ImportForm, ItemForm, SectionForm

Status = ChecklistTemplate.Status


class ChecklistReadMixin(PermissionPageMixin):
    """Reading checklists: whoever may read inspections (not scoped: reference data)."""

    permission: ClassVar[str] = services.READ_PERMISSION
    object_type: ClassVar[str] = services.OBJECT_TYPE


class ChecklistEditMixin(PermissionPageMixin):
    """Authoring: `inspections.change_checklisttemplate` (system administrator, city safety office)."""

    permission: ClassVar[str] = services.EDIT_PERMISSION
    object_type: ClassVar[str] = services.OBJECT_TYPE


def _detail(template: ChecklistTemplate | int, anchor: str = "") -> str:
    pk = template if isinstance(template, int) else template.pk
    url = reverse("inspections:checklist_detail", args=[pk])
    return f"{url}#{anchor}" if anchor else url


# --- reading ---------------------------------------------------------------------------------------------------


@dataclass
class Family:
    code: str
    title: str = ""
    published: ChecklistTemplate | None = None
    draft: ChecklistTemplate | None = None
    history: list[ChecklistTemplate] = field(default_factory=list)


def families() -> list[Family]:
    """Every checklist family: its published version, its draft and its retired versions (newest first)."""
    found: dict[str, Family] = {}
    for template in ChecklistTemplate.objects.annotate(item_count=Count("items")).order_by(
        "code", "-version"
    ):
        family = found.setdefault(template.code, Family(template.code, template.title))
        if template.status == Status.PUBLISHED:
            family.published = template
            family.title = template.title
        elif template.status == Status.DRAFT:
            family.draft = template
        else:
            family.history.append(template)
    return list(found.values())


class ChecklistListView(ChecklistReadMixin, View):
    template_name = "inspections/checklist_list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        context = {"families": families(), "can_edit": request.user.has_perm(services.EDIT_PERMISSION)}
        return render(request, self.template_name, context)


class ChecklistDetailView(ChecklistReadMixin, View):
    """One version: what it is for, its sections and items; the actions its status allows."""

    template_name = "inspections/checklist_detail.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = get_object_or_404(
            ChecklistTemplate.objects.select_related("created_by", "published_by"), pk=pk
        )
        sections = ChecklistSection.objects.filter(template=template).prefetch_related(
            Prefetch("items", queryset=ChecklistItem.objects.select_related("clause").order_by("order", "id"))
        )
        versions = list(ChecklistTemplate.objects.filter(code=template.code).order_by("-version"))
        can_edit = request.user.has_perm(services.EDIT_PERMISSION)
        context = {
            "template": template, "sections": sections.order_by("order", "id"), "versions": versions,
            "can_edit": can_edit, "editable": can_edit and template.status == Status.DRAFT,
            "family_draft": next((v for v in versions if v.status == Status.DRAFT), None),
            "published": next((v for v in versions if v.status == Status.PUBLISHED), None),
            "item_count": ChecklistItem.objects.filter(template=template).count(),
            "kind_labels": [Kind(k).label for k in template.kinds if k in Kind.values],
            "institution_kind_labels": [
                Institution.Kind(k).label for k in template.institution_kinds if k in Institution.Kind.values
            ],
        }  # fmt: skip
        return render(request, self.template_name, context)


class ChecklistExportView(ChecklistReadMixin, View):
    """The version as an xlsx file, one row per item (audited as an export)."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = get_object_or_404(ChecklistTemplate, pk=pk)
        return sheets_response(
            request,
            xlsx.filename(template),
            xlsx.sheets(template),
            model=ChecklistTemplate,
        )


# --- versions --------------------------------------------------------------------------------------------------


class ChecklistCreateView(ChecklistEditMixin, View):
    """A new checklist family: version 1 as a draft."""

    template_name = "inspections/checklist_form.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template_name, {"form": ChecklistForm(), "creating": True})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ChecklistForm(request.POST)
        if form.is_valid():
            try:
                created = services.create_draft(current_user(request), request=request, **form.cleaned_data)
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("The draft of %(code)s was created.") % {"code": created.code})
                return redirect(_detail(created))
        return render(request, self.template_name, {"form": form, "creating": True}, status=400)


class DraftMixin(ChecklistEditMixin):
    """Editors of a draft. Opening one on a published or retired version goes back to the version's page
    with the reason; a POST to it is refused by the service and changes nothing."""

    def refuse_unless_draft(self, template: ChecklistTemplate) -> HttpResponse | None:
        if template.status == Status.DRAFT:
            return None
        messages.error(self.request, services.immutable(template).message)  # type: ignore[attr-defined]
        return redirect(_detail(template))


class ChecklistEditView(DraftMixin, View):
    """A draft's title, description, kinds, institution kinds, cadence and basis."""

    template_name = "inspections/checklist_form.html"

    def render_form(
        self, form: ChecklistForm, template: ChecklistTemplate, status: int = 200
    ) -> HttpResponse:
        return render(
            self.request,
            self.template_name,
            {"form": form, "template": template, "creating": False},
            status=status,
        )

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = get_object_or_404(ChecklistTemplate, pk=pk)
        refused = self.refuse_unless_draft(template)
        if refused:
            return refused
        form = ChecklistForm(initial=ChecklistForm.initial_for(template), creating=False)
        return self.render_form(form, template)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = get_object_or_404(ChecklistTemplate, pk=pk)
        form = ChecklistForm(request.POST, creating=False)
        if form.is_valid():
            try:
                services.update_draft(current_user(request), template, request=request, **form.cleaned_data)
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("The checklist was saved."))
                return redirect(_detail(template))
        return self.render_form(form, template, status=400)


class ChecklistActionView(ChecklistEditMixin, View):
    """POST only: publish a draft, or make a new version from a published or retired one."""

    action: ClassVar[str]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = get_object_or_404(ChecklistTemplate, pk=pk)
        user = current_user(request)
        try:
            if self.action == "publish":
                done = services.publish(user, template, request=request)
                messages.success(
                    request,
                    _("Version %(version)d of %(code)s is published.")
                    % {"version": done.version, "code": done.code},
                )
            else:
                done = services.new_version(user, template, request=request)
                messages.success(
                    request,
                    _("Version %(version)d of %(code)s was made as a draft from version %(source)d.")
                    % {"version": done.version, "code": done.code, "source": template.version},
                )
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(_detail(template))
        return redirect(_detail(done))


class ChecklistPublishView(ChecklistActionView):
    action = "publish"


class ChecklistNewVersionView(ChecklistActionView):
    action = "new_version"


class ChecklistDeleteView(DraftMixin, View):
    """GET asks for confirmation; POST deletes a draft no inspection uses."""

    template_name = "inspections/checklist_confirm.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = get_object_or_404(ChecklistTemplate, pk=pk)
        refused = self.refuse_unless_draft(template)
        if refused:
            return refused
        context = {"template": template, "what": "checklist", "cancel": _detail(template)}
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = get_object_or_404(ChecklistTemplate, pk=pk)
        try:
            services.delete_draft(current_user(request), template, request=request)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(_detail(template))
        messages.success(
            request, _("The draft version %(version)d of %(code)s was deleted.") % {"version": template.version,
                                                                                  "code": template.code}
        )  # fmt: skip
        return redirect("inspections:checklist_list")


class ChecklistImportView(DraftMixin, View):
    """Replace a draft's sections and items with an xlsx file (the export's format): all rows or none."""

    template_name = "inspections/checklist_import.html"

    def context(self, template: ChecklistTemplate, form: ImportForm) -> dict[str, Any]:
        return {
            "template": template, "form": form, "headers": xlsx.HEADERS,
            "known_values": xlsx.known_values(),
        }  # fmt: skip

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = get_object_or_404(ChecklistTemplate, pk=pk)
        refused = self.refuse_unless_draft(template)
        if refused:
            return refused
        return render(request, self.template_name, self.context(template, ImportForm()))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = get_object_or_404(ChecklistTemplate, pk=pk)
        form = ImportForm(request.POST, request.FILES)
        context = self.context(template, form)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                count = xlsx.import_xlsx(
                    current_user(request), template, upload, upload.name, request=request
                )
            except ImportRefused as exc:
                context.update(problem=exc.message, **error_table(exc.errors))
            except DomainError as exc:
                context.update(problem=exc.message)
            else:
                messages.success(request, _("%(count)d items were imported.") % {"count": count})
                return redirect(_detail(template))
        return render(request, self.template_name, context, status=400)


# --- sections --------------------------------------------------------------------------------------------------


class SectionFormView(DraftMixin, View):
    """New section at the end of a draft (`<template pk>/sections/new/`) or rename one
    (`sections/<pk>/edit/`)."""

    template_name = "inspections/checklist_part_form.html"
    creating: ClassVar[bool] = False

    def targets(self) -> tuple[ChecklistTemplate, ChecklistSection | None]:
        pk = self.kwargs["pk"]
        if self.creating:
            return get_object_or_404(ChecklistTemplate, pk=pk), None
        section = get_object_or_404(ChecklistSection.objects.select_related("template"), pk=pk)
        return section.template, section

    def render_form(
        self,
        form: SectionForm,
        template: ChecklistTemplate,
        section: ChecklistSection | None,
        status: int = 200,
    ) -> HttpResponse:
        context = {
            "form": form,
            "template": template,
            "object": section,
            "kind": "section",
            "creating": section is None,
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        template, section = self.targets()
        refused = self.refuse_unless_draft(template)
        if refused:
            return refused
        return self.render_form(
            SectionForm(initial={"title": section.title} if section else None), template, section
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        template, section = self.targets()
        form = SectionForm(request.POST)
        if form.is_valid():
            try:
                saved = services.save_section(
                    current_user(request),
                    template,
                    section,
                    title=form.cleaned_data["title"],
                    request=request,
                )
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("The section %(title)s was saved.") % {"title": saved.title})
                return redirect(_detail(template, f"section-{saved.pk}"))
        return self.render_form(form, template, section, status=400)


class SectionCreateView(SectionFormView):
    creating = True


class SectionDeleteView(DraftMixin, View):
    """GET asks for confirmation (naming the items that go with it); POST deletes."""

    template_name = "inspections/checklist_confirm.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        section = get_object_or_404(ChecklistSection.objects.select_related("template"), pk=pk)
        refused = self.refuse_unless_draft(section.template)
        if refused:
            return refused
        context = {
            "template": section.template, "section": section, "what": "section",
            "items": list(section.items.order_by("order", "id")), "cancel": _detail(section.template),
        }  # fmt: skip
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        section = get_object_or_404(ChecklistSection.objects.select_related("template"), pk=pk)
        try:
            services.delete_section(current_user(request), section, request=request)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The section %(title)s was deleted.") % {"title": section.title})
        return redirect(_detail(section.template))


class MoveView(ChecklistEditMixin, View):
    """POST `step=-1|1`: one place up or down."""

    def step(self) -> int:
        return -1 if self.request.POST.get("step") == "-1" else 1


class SectionMoveView(MoveView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        section = get_object_or_404(ChecklistSection.objects.select_related("template"), pk=pk)
        try:
            services.move_section(current_user(request), section, self.step(), request=request)
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect(_detail(section.template, f"section-{section.pk}"))


# --- items -----------------------------------------------------------------------------------------------------


class ItemFormView(DraftMixin, View):
    """New item in a draft (`<template pk>/items/new/`, `?section=` preselects) or edit one
    (`items/<pk>/edit/`), through `services.save_item`."""

    template_name = "inspections/checklist_item_form.html"
    creating: ClassVar[bool] = False

    def targets(self) -> tuple[ChecklistTemplate, ChecklistItem | None]:
        pk = self.kwargs["pk"]
        if self.creating:
            return get_object_or_404(ChecklistTemplate, pk=pk), None
        item = get_object_or_404(ChecklistItem.objects.select_related("template", "section", "clause"), pk=pk)
        return item.template, item

    def render_form(
        self, form: ItemForm, template: ChecklistTemplate, item: ChecklistItem | None, status: int = 200
    ) -> HttpResponse:
        context = {"form": form, "template": template, "object": item, "creating": item is None}
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        template, item = self.targets()
        refused = self.refuse_unless_draft(template)
        if refused:
            return refused
        if item is not None:
            initial = ItemForm.initial_for(item)
        else:
            initial = {"section": request.GET.get("section") or None, "note_on_fail": True}
        return self.render_form(ItemForm(initial=initial, template=template, item=item), template, item)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        template, item = self.targets()
        form = ItemForm(request.POST, template=template, item=item)
        if form.is_valid():
            try:
                saved = services.save_item(
                    current_user(request), template, item, request=request, **form.values()
                )
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("The item %(code)s was saved.") % {"code": saved.code})
                return redirect(_detail(template, f"item-{saved.pk}"))
        return self.render_form(form, template, item, status=400)


class ItemCreateView(ItemFormView):
    creating = True


class ItemDeleteView(DraftMixin, View):
    template_name = "inspections/checklist_confirm.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = get_object_or_404(ChecklistItem.objects.select_related("template", "section"), pk=pk)
        refused = self.refuse_unless_draft(item.template)
        if refused:
            return refused
        context = {"template": item.template, "item": item, "what": "item", "cancel": _detail(item.template)}
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = get_object_or_404(ChecklistItem.objects.select_related("template", "section"), pk=pk)
        try:
            services.delete_item(current_user(request), item, request=request)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The item %(code)s was deleted.") % {"code": item.code})
        return redirect(_detail(item.template, f"section-{item.section_id}"))


class ItemMoveView(MoveView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = get_object_or_404(ChecklistItem.objects.select_related("template", "section"), pk=pk)
        try:
            services.move_item(current_user(request), item, self.step(), request=request)
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect(_detail(item.template, f"item-{item.pk}"))
