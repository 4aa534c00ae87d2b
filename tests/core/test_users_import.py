"""`flask users import FILE`: staff from a CSV (email,name,role,stores,language; stores separated by ;),
all or nothing by default, with a progress bar and the rejected rows."""

import pytest
from sqlalchemy import func, select

from app.core.models import AuditEvent, User
from app.extensions import db
from tests.factories import make_location, make_user

HEADER = "email,name,role,stores,language"


@pytest.fixture
def stores(app):
    stores = make_location("LYO01", name="Lyon"), make_location("MIL01", name="Milano")
    db.session.commit()
    return stores


def _file(tmp_path, *rows, header=HEADER):
    path = tmp_path / "staff.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _people() -> dict:
    return {u.email: u for u in db.session.scalars(select(User))}


def test_a_good_file_creates_the_people_with_their_stores_and_language(runner, stores, tmp_path):
    path = _file(
        tmp_path,
        "lea@example.test,Léa Martin,associate,LYO01,fr",
        "Marco@Example.test,Marco Rossi,manager,LYO01;MIL01,it",
        "ada@example.test,Ada Admin,admin,,",
    )
    result = runner.invoke(args=["users", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "3 rows read, 3 imported, 0 unchanged, 0 rejected."
    assert "Importing staff" in result.stderr
    people = _people()
    assert (people["lea@example.test"].role, people["lea@example.test"].language) == ("associate", "fr")
    assert [s.code for s in people["marco@example.test"].stores] == ["LYO01", "MIL01"]
    assert people["ada@example.test"].role == "admin" and people["ada@example.test"].stores == []
    assert all(person.password_temporary for person in people.values())  # chosen at the first sign-in
    actors = set(db.session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "user.create")))
    assert actors == {"system:cli-import"}
    # The same file again: nothing changes. A changed row brings the person up to date, audited.
    again = runner.invoke(args=["users", "import", str(path)])
    assert again.stdout.strip() == "3 rows read, 0 imported, 3 unchanged, 0 rejected."
    _file(tmp_path, "lea@example.test,Léa Martin,manager,LYO01;MIL01,fr")
    assert runner.invoke(args=["users", "import", str(path)]).exit_code == 0
    db.session.expire_all()
    lea = _people()["lea@example.test"]
    assert lea.role == "manager" and [s.code for s in lea.stores] == ["LYO01", "MIL01"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.import"))
    assert event.before["role"] == "associate" and event.after["stores"] == ["LYO01", "MIL01"]


def test_one_bad_row_rejects_the_whole_file_and_changes_nothing(runner, stores, tmp_path):
    make_user(stores=[stores[0]], email="old@example.test", name="Old Name")
    db.session.commit()
    path = _file(
        tmp_path,
        "new@example.test,New Person,associate,LYO01,fr",
        "old@example.test,New Name,manager,LYO01,it",
        "bad-address,Nobody,associate,LYO01,fr",
        "ghost@example.test,Ghost,associate,PAR99,en",
        "chef@example.test,Chef,boss,LYO01,de",
        "new@example.test,Twice,associate,MIL01,",
        "lonely@example.test,Lonely,associate,,",
    )
    result = runner.invoke(args=["users", "import", str(path)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "7 rows read, 0 (2 valid) imported, 0 unchanged, 5 rejected: nothing was written."
    assert lines[1:] == [
        "  row 4: email: Not a valid e-mail address.",
        "  row 5: stores: Unknown store code(s): PAR99.",
        "  row 6: role: Must be one of: associate, manager, admin, customer_service.",
        "  row 6: language: Must be one of: en, fr, it, or empty.",
        "  row 7: email: Listed twice in this file (first at row 2).",
        "  row 8: stores: An associate or a manager works in at least one store (codes separated by ;).",
    ]
    assert "--skip-invalid" in result.stderr
    db.session.expire_all()
    assert set(_people()) == {"old@example.test"}
    assert _people()["old@example.test"].name == "Old Name"
    assert (
        db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action != "user.create")) == 0
    )
    # --skip-invalid keeps the valid rows.
    kept = runner.invoke(args=["users", "import", "--skip-invalid", str(path)])
    assert kept.exit_code == 1
    assert kept.stdout.splitlines()[0] == "7 rows read, 2 imported, 0 unchanged, 5 rejected."
    db.session.expire_all()
    assert set(_people()) == {"old@example.test", "new@example.test"}


def test_an_unknown_header_is_refused_before_anything(runner, stores, tmp_path):
    path = _file(tmp_path, "a@example.test,A,associate,LYO01", header="email,name,role,shops")
    result = runner.invoke(args=["users", "import", str(path)])
    assert result.exit_code == 1
    assert "missing column(s) stores" in result.output and "unknown column(s) 'shops'" in result.output
    assert _people() == {}
