from typing import Any

from django.contrib.auth.backends import ModelBackend

from .roles import permissions_for_roles


class PolicyModelBackend(ModelBackend):
    """Password check plus account policy; permissions come from the user's roles (roles.py)."""

    def user_can_authenticate(self, user: Any) -> bool:
        return super().user_can_authenticate(user) and not user.is_expired()

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        return set(permissions_for_roles(user_obj.role_codes))

    def get_user_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return self.get_all_permissions(user_obj, obj)

    def get_group_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return set()
