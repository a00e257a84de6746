from django.apps import AppConfig


class PublicConfig(AppConfig):
    """Pages for the public (anonymous): the page an institution's code (一院一码) opens."""

    name = "minan.public"
    label = "public"
