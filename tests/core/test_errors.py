"""Domain errors say their own field messages: every field holds a message, never a code to guess from."""

from app.core.errors import DomainError, InvalidInput, untranslated


def _shout(message: str, **params) -> str:
    return untranslated(message, **params).upper()


def test_field_gives_the_field_the_errors_own_message_with_its_values():
    error = InvalidInput("The quantity must be from 1 to %(left)s.", field="quantity", left=3)
    assert error.field_messages(untranslated) == {"quantity": "The quantity must be from 1 to 3."}
    assert error.sentence(_shout) == "THE QUANTITY MUST BE FROM 1 TO 3."


def test_each_field_is_translated_with_its_own_values():
    error = DomainError(
        "Some values are not valid.",
        fields={"name": "Required.", "weight": ("At most %(n)s g.", {"n": 30000})},
        field="box",
    )
    assert error.field_messages(_shout) == {
        "name": "REQUIRED.",
        "weight": "AT MOST 30000 G.",
        "box": "SOME VALUES ARE NOT VALID.",
    }


def test_the_core_raises_no_field_codes():
    """A field value is a sentence (a msgid with a space or a full stop), so the edge never has to guess."""
    import re
    from pathlib import Path

    core = Path(__file__).resolve().parents[2] / "app" / "core"
    code_like = re.compile(r'fields=\{[^}]*: "[a-z_]+"')
    offenders = [str(p) for p in core.rglob("*.py") if code_like.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
