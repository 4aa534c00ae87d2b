"""Picking: single and batch pick lists, scans, undo, short picks, takeover."""

from flask import Blueprint

bp = Blueprint("pick", __name__)
