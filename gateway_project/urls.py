"""HTTP routes: the admin and its dashboard, health, metrics, the client
secrets endpoint and the WebRTC call endpoints."""

from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from access.forms import ThrottledAdminLoginForm
from realtime import calls, client_secrets, dashboard, views

admin.site.login_form = ThrottledAdminLoginForm  # see access.services
admin.site.site_header = "Realtime gateway"
admin.site.site_title = "Realtime gateway"
admin.site.index_title = "Keys and usage"
# The app list beside every page would take a quarter of a 1280 px screen from
# the tables; the breadcrumbs and the index lead everywhere it does.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/playground/", include("realtime.playground")),  # before the admin's
    # Before the admin's own catch-all; admin_view: staff only, else the login.
    path(
        "admin/dashboard/",
        admin.site.admin_view(dashboard.dashboard_view),
        name="realtime_dashboard",
    ),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the page says.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"))),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics_view, name="metrics"),
    # OpenAI's path, and Azure OpenAI's v1 one (its SDK's base URL ends in /openai/v1).
    path(
        "v1/realtime/client_secrets",
        client_secrets.create_client_secret,
        name="client_secrets",
    ),
    path(
        "openai/v1/realtime/client_secrets",
        client_secrets.create_client_secret,
        name="azure_client_secrets",
    ),
    # WebRTC calls (realtime.calls). /v1/live/sessions over WebSocket is the
    # GPT-Live socket: Channels routes upgrades, Django only HTTP requests.
    path("v1/realtime/calls", calls.create_realtime_call, name="realtime_calls"),
    path(
        "openai/v1/realtime/calls",
        calls.create_realtime_call,
        name="azure_realtime_calls",
    ),
    path("v1/live/sessions", calls.create_live_session, name="live_sessions"),
    path(
        "openai/v1/live/sessions",
        calls.create_live_session,
        name="azure_live_sessions",
    ),
]
