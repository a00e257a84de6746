from django.urls import path

from . import views

app_name = "notify"
urlpatterns = [
    path("", views.InboxView.as_view(), name="inbox"),
    path("read/", views.MarkReadView.as_view(), name="mark_read"),
    path("preferences/", views.PreferencesView.as_view(), name="preferences"),
    path("channels/", views.ChannelListView.as_view(), name="channels"),
    path("channels/new/", views.ChannelCreateView.as_view(), name="channel_new"),
    path("channels/<int:pk>/edit/", views.ChannelEditView.as_view(), name="channel_edit"),
    path("channels/<int:pk>/test/", views.ChannelTestView.as_view(), name="channel_test"),
    path("role-defaults/", views.RoleDefaultsView.as_view(), name="role_defaults"),
    path("deliveries/", views.DeliveryListView.as_view(), name="deliveries"),
    path("deliveries/<int:pk>/", views.DeliveryDetailView.as_view(), name="delivery"),
]
