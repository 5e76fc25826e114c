"""HTTP routes: the admin, health and metrics."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from access.forms import ThrottledAdminLoginForm
from realtime import views

admin.site.login_form = ThrottledAdminLoginForm  # see access.services
admin.site.site_header = "Realtime gateway"
admin.site.site_title = "Realtime gateway"
admin.site.index_title = "Keys and usage"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics_view, name="metrics"),
]
