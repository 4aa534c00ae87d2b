import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db


# SQLite cannot reflect an expression index: the PostgreSQL-only lower(customer_email) index is compared there only.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_the_migrations_build_exactly_the_schema_the_models_describe(app):
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == []


def test_a_customer_service_user_can_be_made_and_is_neither_admin_nor_manager(app):
    from tests.factories import make_user

    person = make_user(role="customer_service")
    db.session.commit()
    assert (person.is_customer_service, person.is_admin, person.is_manager) == (True, False, False)


def test_a_client_can_be_given_every_scope_at_once(app):
    from app.core.integration.api_clients import SCOPES, create_api_client
    from tests.factories import ACTOR

    client, _token = create_api_client("everything", sorted(SCOPES), actor=ACTOR)
    db.session.commit()
    assert client.scope_set == SCOPES
