"""Duty lists (岗位责任清单): posts and their numbered duties, and the printable list of a person."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import messages
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import DetailView, TemplateView

from minan.accounts.models import User
from minan.accounts.roles import ROLE_LABELS
from minan.core.errors import DomainError
from minan.core.forms import add_refusal
from minan.core.views import PermissionPageMixin, ScopedViewMixin, current_user, deny

from .. import selectors, services
from ..forms import DutyItemFormSet, DutyPostForm
from ..models import DutyItem, DutyPost


class DutyPostAccessMixin(PermissionPageMixin):
    """Pages of the duty lists.

    Not scoped: posts and their duties are CONFIGURABLE reference data shared by the whole deployment,
    not rows of a region (like the classification scheme); `permission` decides who sees and who edits,
    and a refusal is audited. People shown or offered on these pages are read through
    `User.objects.for_user`."""

    permission: ClassVar[str] = "duty.view_dutypost"
    object_type: ClassVar[str] = "duty.dutypost"


def _numbered_items() -> Prefetch:
    return Prefetch("items", queryset=DutyItem.objects.order_by("number"))


class DutyPostListView(DutyPostAccessMixin, TemplateView):
    """Every post with its numbered duties and who holds it; edit links for `duty.change_dutypost`."""

    template_name = "duty/posts.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        # Named holders outside the viewer's scope are counted, not named.
        visible = User.objects.for_user(user).order_by("display_name", "username")
        posts = (
            DutyPost.objects.prefetch_related(
                _numbered_items(), Prefetch("holders", queryset=visible, to_attr="visible_holders")
            )
            .annotate(holder_count=Count("holders", distinct=True))
            .order_by("order", "code")
        )
        context.update(
            rows=[
                {
                    "post": post,
                    "role_label": ROLE_LABELS.get(post.role, post.role),
                    "holders": post.visible_holders,
                    "hidden_holders": post.holder_count - len(post.visible_holders),
                }
                for post in posts
            ],
            visit_rule=selectors.visit_rule(),
            can_edit=user.has_perm("duty.change_dutypost"),
        )
        return context


class DutyPostEditView(DutyPostAccessMixin, TemplateView):
    """Create (`duty:post_new`) or change (`duty:post_edit`) a post and its numbered duties.

    Saving replaces the post's duties with the rows of the form, numbered in form order; a row whose
    text is emptied is removed. A refusal of the service is shown on the form and nothing is changed."""

    template_name = "duty/post_form.html"
    permission: ClassVar[str] = "duty.change_dutypost"

    def _post(self) -> DutyPost | None:
        pk = self.kwargs.get("pk")
        return None if pk is None else get_object_or_404(DutyPost, pk=pk)

    def _render(
        self, post: DutyPost | None, form: Any, formset: Any, items_error: str = "", status: int = 200
    ) -> HttpResponse:
        actor = current_user(self.request)
        hidden = post.holders.exclude(pk__in=User.objects.for_user(actor).values("pk")).count() if post else 0
        context = self.get_context_data(
            post=post, form=form, formset=formset, items_error=items_error, hidden_holders=hidden
        )
        return self.render_to_response(context, status=status)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        post = self._post()
        actor = current_user(request)
        if post is None:
            form = DutyPostForm(actor=actor)
            formset = DutyItemFormSet(prefix="items")
        else:
            form = DutyPostForm(
                actor=actor,
                post=post,
                initial={"name": post.name, "role": post.role, "holders": list(post.holders.all())},
            )
            formset = DutyItemFormSet(
                prefix="items",
                initial=[
                    {"text": i.text, "recurrence": i.recurrence, "task": i.task}
                    for i in post.items.order_by("number")
                ],
            )
        return self._render(post, form, formset)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        post = self._post()
        actor = current_user(request)
        form = DutyPostForm(request.POST, actor=actor, post=post)
        formset = DutyItemFormSet(request.POST, prefix="items")
        if not (form.is_valid() and formset.is_valid()):
            return self._render(post, form, formset, status=400)
        data = form.cleaned_data
        items = [
            (
                f.cleaned_data.get("text", ""),
                f.cleaned_data.get("recurrence", ""),
                f.cleaned_data.get("task", ""),
            )
            for f in formset.forms
        ]
        try:
            saved = services.save_post(
                actor,
                post,
                code=data.get("code") or (post.code if post else ""),
                name=data["name"],
                role=data["role"],
                holders=list(data["holders"]),
                items=items,
                request=request,
            )
        except DomainError as exc:
            if exc.field == "items":
                return self._render(post, form, formset, items_error=exc.message, status=400)
            add_refusal(form, exc)
            return self._render(post, form, formset, status=400)
        messages.success(request, _("Saved."))
        return redirect(reverse("duty:posts") + f"#post-{saved.code}")


class MyDutyListView(DutyPostAccessMixin, TemplateView):
    """The signed-in person's own duty list (the union of the posts they hold), printable.

    Not scoped: it shows reference data and the requester's own posts only."""

    template_name = "duty/duty_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        context.update(person=user, posts=selectors.posts_for(user), own=True, today=timezone.localdate())
        return context


class PersonDutyListView(ScopedViewMixin, DetailView):
    """Another person's printable duty list; the person is read through `User.objects.for_user`, so
    someone outside the viewer's scope is a 404."""

    model = User
    template_name = "duty/duty_list.html"
    context_object_name = "person"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.is_authenticated and not request.user.has_perm("duty.view_dutypost"):
            deny(request, "duty.dutypost", f"duty.view_dutypost {request.path}")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(posts=selectors.posts_for(self.object), own=False, today=timezone.localdate())
        return context
