"""The API reference page: served by us from the OpenAPI document, every operation on it."""

import re

from app.api import api
from app.api.docs import METHODS


def test_the_docs_page_lists_every_operation_with_its_fields_and_loads_nothing_from_elsewhere(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    spec = api.spec.to_dict()
    operations = [(m.upper(), path) for path, item in spec["paths"].items() for m in METHODS if m in item]
    assert len(operations) >= 15
    for method, path in operations:
        assert f"{method}</span> <code>{path}</code>" in body, (method, path)
    assert body.count('<article class="card operation"') == len(operations)
    assert "<code>delivery.address.postcode</code>" in body and "<code>lines[].quantity</code>" in body
    sources = re.findall(r'(?:src|href)="([^"#]+)"', body)
    assert sources and all(s.startswith("/") for s in sources), sources
