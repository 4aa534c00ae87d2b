"""Packing, labels, printing and dispatch."""

from flask import Blueprint

bp = Blueprint("pack", __name__)


@bp.get("/stores/<store_code>/dispatch")
def dispatch(store_code):  # placeholder until the dispatch screen lands
    return ""
