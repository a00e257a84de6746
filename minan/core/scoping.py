"""The one scoping mechanism.

Every scoped model carries `region_path` (materialised path of region codes, e.g.
``370000/370800/370811/``) and uses `ScopedManager`. `Model.objects.for_user(user, action)` is the only
way views, the API, exports and jobs read scoped rows: it returns nothing unless the user's roles
grant `action` on the model, and only rows inside one of the user's scope entries.

A scope entry is a region subtree or a single institution, optionally narrowed to institution kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models
from django.db.models import Q

if TYPE_CHECKING:
    from minan.accounts.models import User

ACTIONS = ("view", "add", "change", "delete", "export")


def permission_for(model: type[models.Model], action: str) -> str:
    """The permission name an action needs on a model; export needs its own permission."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


@dataclass(frozen=True)
class ScopeEntry:
    region_path: str | None  # subtree root, or the institution's region for institution entries
    institution_id: int | None
    kinds: tuple[str, ...]  # empty = every kind


def scope_entries(user: Any) -> tuple[ScopeEntry, ...]:
    """The user's scope entries, cached on the user object for the request."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return ()
    cached = getattr(user, "_scope_entries", None)
    if cached is None:
        cached = tuple(
            ScopeEntry(
                region_path=row.region.region_path if row.region_id else row.institution.region_path,
                institution_id=row.institution_id,
                kinds=tuple(row.kinds or ()),
            )
            for row in user.scopes.select_related("region", "institution")
        )
        user._scope_entries = cached
    return cached


def forget(user: Any) -> None:
    """Drop the user's cached scope entries (after a write to them): the next read sees the rows."""
    user.__dict__.pop("_scope_entries", None)


def scope_q(model: type[models.Model], entries: tuple[ScopeEntry, ...]) -> Q | None:
    """A filter selecting the rows of `model` inside the entries; None when nothing is inside."""
    kind_field = getattr(model, "scope_kind_field", None)
    institution_field = getattr(model, "scope_institution_field", None)
    combined: Q | None = None
    for entry in entries:
        if entry.institution_id is not None:
            if institution_field:
                q = Q(**{institution_field: entry.institution_id})
            else:
                # Models above institutions (regions, region-level users): only the exact region.
                q = Q(region_path=entry.region_path)
        else:
            q = Q(region_path__startswith=entry.region_path)
        if entry.kinds and kind_field:
            q &= Q(**{f"{kind_field}__in": entry.kinds})
        combined = q if combined is None else combined | q
    if combined is not None and getattr(model, "scope_unplaced_visible", False):
        combined |= Q(region_path="")
    return combined


def in_scope(
    user: Any, region_path: str, *, kind: str | None = None, institution_id: int | None = None
) -> bool:
    """Whether a (new or changed) object at this place lies inside the user's scope.

    Services call it before a write so that nobody creates or moves an object outside their scope.
    """
    for entry in scope_entries(user):
        if entry.kinds and kind is not None and kind not in entry.kinds:
            continue
        if entry.institution_id is not None:
            if institution_id == entry.institution_id:
                return True
            continue
        if entry.region_path and region_path.startswith(entry.region_path):
            return True
    return False


def region_within_scope(user: Any, region_path: str) -> bool:
    """Whether a whole region subtree lies inside the user's scope (for granting scope to others)."""
    return any(
        entry.institution_id is None and not entry.kinds and region_path.startswith(entry.region_path or "\0")
        for entry in scope_entries(user)
    )


class ScopedQuerySet(models.QuerySet):
    def for_user(self, user: User | Any, action: str = "view") -> ScopedQuerySet:
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if not user.has_perm(permission_for(self.model, action)):
            return self.none()
        entries = scope_entries(user)
        q = scope_q(self.model, entries)
        also = getattr(self.model, "scope_also", None)
        if q is not None and also is not None and action == "view":
            # Rows that belong to one place but concern others (a supervision group covers counties):
            # people of those places may see them; only people of the row's own place change them.
            extra = also(entries)
            q = q if extra is None else q | extra
        return self.none() if q is None else self.filter(q)


class ScopedManager(models.Manager.from_queryset(ScopedQuerySet)):  # type: ignore[misc]
    pass


class ScopedModel(models.Model):
    """Base for every model whose rows belong to a place in the region tree."""

    region_path = models.CharField(max_length=255, db_index=True, editable=False)

    scope_kind_field: ClassVar[str | None] = None
    scope_institution_field: ClassVar[str | None] = None

    objects = ScopedManager()

    class Meta:
        abstract = True
