"""The admin login throttle: per address and per username, in the database."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from access.models import LoginFailure

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "a-long-pass-phrase"
THROTTLED = "Too many failed logins"
WRONG = "Please enter the correct username and password"


@pytest.fixture(autouse=True)
def ops(settings) -> User:
    settings.GATEWAY_ADMIN_LOGIN_FAILURES = 3
    settings.GATEWAY_ADMIN_LOGIN_WINDOW_SECONDS = 600
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return User.objects.create_superuser("ops", "", PASSWORD)


def log_in(username: str, password: str, address: str = "198.51.100.7") -> str:
    """A fresh client (as another process would see it) posts the login form."""
    response = Client().post(
        LOGIN,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )
    if response.status_code == 302:
        return "logged in"
    assert response.status_code == 200
    return response.content.decode()


def test_a_good_login_goes_through():
    assert log_in("ops", PASSWORD) == "logged in"


def test_after_the_limit_even_the_right_password_is_refused():
    for _ in range(3):
        assert WRONG in log_in("ops", "guess")
    page = log_in("ops", PASSWORD)
    assert THROTTLED in page
    assert LoginFailure.objects.count() == 3  # refused attempts add no rows


def test_the_limit_holds_per_username_from_any_address():
    for n in range(3):
        log_in("OPS", "guess", address=f"203.0.113.{n}")  # case does not matter
    assert THROTTLED in log_in("ops", PASSWORD, address="192.0.2.1")


def test_the_limit_holds_per_address_for_any_username():
    for name in ("alice", "bob", "carol"):
        log_in(name, "guess")
    assert THROTTLED in log_in("ops", PASSWORD)
    assert log_in("ops", PASSWORD, address="192.0.2.1") == "logged in"


def test_failures_age_out_of_the_window():
    for _ in range(3):
        log_in("ops", "guess")
    LoginFailure.objects.update(at=timezone.now() - datetime.timedelta(minutes=11))
    assert log_in("ops", PASSWORD) == "logged in"
    log_in("ops", "guess")
    assert LoginFailure.objects.count() == 1  # old rows are pruned


def test_a_non_staff_user_counts_as_a_failure():
    User.objects.create_user("visitor", password=PASSWORD)
    for _ in range(3):
        log_in("visitor", PASSWORD, address="192.0.2.9")
    assert LoginFailure.objects.filter(username="visitor").count() == 3
