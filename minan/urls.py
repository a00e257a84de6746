from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("", include("minan.core.urls")),
    path("accounts/", include("minan.accounts.urls")),
    path("regions/", include("minan.regions.urls")),
    path("institutions/", include("minan.institutions.urls")),
    path("duty/", include("minan.duty.urls")),
    path("hazards/", include("minan.hazards.urls")),
    path("inspections/", include("minan.inspections.urls")),
    path("firewatch/", include("minan.firewatch.urls")),
    path("notify/", include("minan.notify.urls")),
    path("audit/", include("minan.core.audit.urls")),
    path("p/", include("minan.public.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("minan.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script as a file: the CSP allows no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api_docs.html"),
        name="swagger-ui",
    ),
]
