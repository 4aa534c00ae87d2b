"""Sign in, sign out, and the language switch."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from app.core import users
from app.core.uow import unit_of_work
from app.extensions import limiter
from app.web.helpers import current_actor, render

bp = Blueprint("auth", __name__)


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


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = users.find_user_by_email(form.email.data)
        if user and user.active and user.check_password(form.password.data):
            login_user(user)
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")) or url_for("queue.home"))
        form.password.errors.append(gettext("Wrong e-mail or password."))
    status = 422 if request.method == "POST" else 200
    return render("auth/login.html", status=status, form=form)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
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
