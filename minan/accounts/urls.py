from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/verify/", views.SecondFactorView.as_view(), name="login_verify"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("totp/", views.SecuritySettingsView.as_view(), name="security"),
    path("tokens/", views.ApiTokenListView.as_view(), name="api_tokens"),
    path("users/", views.UserListView.as_view(), name="user_list"),
    path("users/export.xlsx", views.UserExportView.as_view(), name="user_export"),
    path("users/new/", views.UserCreateView.as_view(), name="user_create"),
    path("users/<int:pk>/", views.UserDetailView.as_view(), name="user_detail"),
    path("users/<int:pk>/edit/", views.UserEditView.as_view(), name="user_edit"),
    path("users/<int:pk>/<slug:action>/", views.UserActionView.as_view(), name="user_action"),
    path("users/<int:pk>/<slug:action>/<str:arg>/", views.UserActionView.as_view(), name="user_action_arg"),
]
