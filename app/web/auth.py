"""Sign in, sign out, the device sessions behind them, and the language switch."""

import math
import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from limits import parse
from limits.strategies import MovingWindowRateLimiter
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from app.core.errors import DomainError
from app.core.people import sign_in, switch, users
from app.core.uow import unit_of_work
from app.extensions import limiter
from app.web.helpers import current_actor, go_to, mark_fields, render

bp = Blueprint("auth", __name__)

# The Flask session entry holding this device's key (its row in user_session).
DEVICE_KEY = "device"
READ_METHODS = {"GET", "HEAD", "OPTIONS"}


class LoginForm(FlaskForm):
    email = EmailField(lazy_gettext("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired()])


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    return (
        target
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//")
        else None
    )


def _lifetime() -> timedelta:
    return current_app.config["PERMANENT_SESSION_LIFETIME"]


# --------------------------------------------------------------------------- wrong passwords, counted by every worker


def _limit(name: str):
    return parse(current_app.config[name])


class DatabaseThrottle:
    """Attempts counted in the database every worker shares (when no shared limiter store is configured)."""

    def admit(self, address: str, account: str) -> int:
        per_account, per_address = (_limit(n) for n in ("LOGIN_RATE_LIMIT", "LOGIN_ADDRESS_RATE_LIMIT"))
        limits = [(item.amount, timedelta(seconds=item.get_expiry())) for item in (per_account, per_address)]
        with unit_of_work(writes=True):
            attempt = sign_in.record_attempt(address, account, keep=max(window for _, window in limits))
        with unit_of_work(writes=True):
            return sign_in.seconds_to_wait(attempt, *limits)

    def failed(self, address: str, account: str) -> None:
        """The attempt admit() counted stays counted."""

    def succeeded(self, address: str, account: str) -> None:
        with unit_of_work(writes=True):
            sign_in.forget_failures(address, account)


class StoreThrottle:
    """Attempts counted in the limiter's shared store (RATELIMIT_STORAGE_URI=redis://...), in a moving window."""

    def __init__(self):
        self.window = MovingWindowRateLimiter(limiter.storage)

    def admit(self, address: str, account: str) -> int:
        per_address = _limit("LOGIN_ADDRESS_RATE_LIMIT")
        if not self.window.test(per_address, "login-address", address):
            return self._wait(per_address, "login-address", address)
        # Counted before the password is checked, so concurrent attempts cannot all slip under the limit.
        per_account = _limit("LOGIN_RATE_LIMIT")
        if not self.window.hit(per_account, "login", address, account):
            return self._wait(per_account, "login", address, account)
        return 0

    def failed(self, address: str, account: str) -> None:
        self.window.hit(_limit("LOGIN_ADDRESS_RATE_LIMIT"), "login-address", address)

    def succeeded(self, address: str, account: str) -> None:
        self.window.clear(_limit("LOGIN_RATE_LIMIT"), "login", address, account)

    def _wait(self, item, *keys) -> int:
        reset = self.window.get_window_stats(item, *keys).reset_time
        return max(1, math.ceil(reset - time.time()))


class NoThrottle:
    """RATELIMIT_ENABLED=false (tests, load benchmarks)."""

    def admit(self, address: str, account: str) -> int:
        return 0

    def failed(self, address: str, account: str) -> None:
        pass

    def succeeded(self, address: str, account: str) -> None:
        pass


def login_throttle():
    """Where wrong passwords are counted: the same place for every worker and every machine."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return NoThrottle()
    if current_app.config["RATELIMIT_STORAGE_URI"].startswith("memory://"):  # one per process: not shared
        return DatabaseThrottle()
    return StoreThrottle()


def wait_message(seconds: int) -> str:
    if seconds >= 60:
        minutes = -(-seconds // 60)
        return ngettext(
            "Too many wrong passwords. Try again in %(num)d minute.",
            "Too many wrong passwords. Try again in %(num)d minutes.",
            minutes,
        )
    return ngettext(
        "Too many wrong passwords. Try again in %(num)d second.",
        "Too many wrong passwords. Try again in %(num)d seconds.",
        seconds,
    )


# --------------------------------------------------------------------------- device sessions


def _start_session(user) -> None:
    """A new Flask session for the signed-in user: nothing carried over from before (no fixation; Flask-WTF makes a
    new CSRF token since none is kept) but the language chosen, and the key of this device's revocable session."""
    language = session.get("language")
    with unit_of_work(writes=True):
        if current_user.is_authenticated:  # signing in again on a signed-in device: its earlier session ends
            sign_in.revoke_session(g.device_session, actor=current_actor())
        sign_in.prune_sessions(_lifetime())
        _, key = sign_in.open_session(user, ip=request.remote_addr or "", user_agent=request.user_agent.string)
    session.clear()
    login_user(user)
    session.permanent = True
    session[DEVICE_KEY] = key
    if language:
        session["language"] = language


def signed_in_user(user_id: str):
    """flask-login's user loader: the user of this device's session, or None, the device then signed out, when the
    session was revoked (sign-out, a manager), unused for a whole lifetime, or its user deactivated."""
    key = session.get(DEVICE_KEY)
    row = sign_in.live_session(key, int(user_id), _lifetime()) if key and user_id.isdigit() else None
    if row is None or not row.person.active:
        _forget_device()
        flash(gettext("You were signed out on this device. Sign in again to go on."), "error")
        return None
    if row.acting_user_id is not None and not switch.shift_open(row, current_app.config["SHIFT_LENGTH"]):
        _forget_device()  # a switched-to person never outlasts the shift: the device needs a full password again
        flash(gettext("This device's shift is over: sign in with your password to start a new one."), "error")
        return None
    sign_in.seen(row, own_transaction=request.method in READ_METHODS)
    g.device_session = row
    return row.person


def _forget_device() -> None:
    language = session.get("language")
    session.clear()
    if language:
        session["language"] = language


# --------------------------------------------------------------------------- routes


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if not form.validate_on_submit():
        return render("auth/login.html", status=422 if request.method == "POST" else 200, form=form)
    throttle, address, account = login_throttle(), request.remote_addr or "", form.email.data.strip().lower()
    wait = throttle.admit(address, account)
    if wait:
        return render("auth/login.html", status=429, form=form, alert=wait_message(wait))
    user = users.authenticate(form.email.data, form.password.data)
    if user is None:
        throttle.failed(address, account)
        form.password.errors.append(gettext("Wrong e-mail or password."))
        return render("auth/login.html", status=422, form=form)
    throttle.succeeded(address, account)
    _start_session(user)
    landing = url_for("cs_search.home") if user.is_customer_service else url_for("queue.home")
    return redirect(_safe_next(request.args.get("next")) or landing)


@bp.post("/logout")
@login_required
def logout():
    with unit_of_work():
        sign_in.revoke_session(g.device_session, actor=current_actor())
    logout_user()
    _forget_device()
    return redirect(url_for("auth.login"))


@bp.post("/language")
def set_language():
    language = request.form.get("language", "")
    if language not in current_app.config["LANGUAGES"]:
        flash(gettext("Unknown language."), "error")
    elif current_user.is_authenticated:
        with unit_of_work():
            users.set_language(current_user._get_current_object(), language, actor=current_actor())
    session["language"] = language if language in current_app.config["LANGUAGES"] else session.get("language")
    return redirect(_safe_next(request.form.get("next")) or url_for("queue.home"))


# --------------------------------------------------------------------------- one's own password


class PasswordForm(FlaskForm):
    current = PasswordField(lazy_gettext("Current password"), validators=[DataRequired()])
    new = PasswordField(lazy_gettext("New password"), validators=[DataRequired(), Length(max=200)])


# What a person with a temporary password may still open: the page to change it, and the way out.
TEMPORARY_ALLOWED = {"auth.change_password", "auth.logout", "auth.set_language", "auth.login", "static"}


@bp.before_app_request
def temporary_password_first():
    """Someone else saw a temporary password: its holder chooses their own before anything else."""
    if request.endpoint in TEMPORARY_ALLOWED or request.path.startswith("/api/") or request.endpoint is None:
        return None
    if current_user.is_authenticated and current_user.password_temporary:
        return go_to(url_for("auth.change_password"))
    return None


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordForm()
    if request.method == "GET":
        return render("auth/password.html", form=form)
    if not form.validate():
        return render("auth/password.html", status=422, form=form)
    throttle, address, account = login_throttle(), request.remote_addr or "", current_user.email
    wait = throttle.admit(address, account)
    if wait:
        return render("auth/password.html", status=429, form=form, alert=wait_message(wait))
    person = current_user._get_current_object()
    try:
        with unit_of_work():
            users.change_own_password(person, form.current.data, form.new.data, actor=current_actor())
    except DomainError as error:
        if "current" in error.fields:
            throttle.failed(address, account)
        mark_fields(form, error)
        return render("auth/password.html", status=error.http_status, form=form)
    throttle.succeeded(address, account)
    flash(gettext("Your password is changed."), "success")
    return redirect(url_for("queue.home"), 303)
