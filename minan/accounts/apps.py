from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "minan.accounts"
    label = "accounts"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (imported here: the receivers read models, loaded after every apps.py)
