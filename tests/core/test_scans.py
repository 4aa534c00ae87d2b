"""One idempotent-scan rule for every kind of scan (pick, pack, dispatch, and those to come)."""

import pytest

from app.core.errors import InvalidInput
from app.core.floor import dispatch, packing, scans
from tests.core.test_packing import ACTOR, picked_fulfilment


def test_a_scan_id_answers_its_own_work_once_and_is_refused_for_any_other(app):
    fulfilment = picked_fulfilment(1)
    fulfilment.location.scan_to_pack = True
    packing.start_packing(fulfilment, actor=ACTOR)
    gtin = fulfilment.lines[0].product.gtin
    first = packing.pack_scan(fulfilment, None, gtin, "same-id-0001", actor=ACTOR)
    again = packing.pack_scan(fulfilment, None, gtin, "same-id-0001", actor=ACTOR)
    assert (first.replayed, again.replayed, again.outcome, again.parcel_id) == (False, True, "packed", first.parcel_id)
    assert packing.scanned_units(fulfilment) == {fulfilment.lines[0].id: 1}
    with pytest.raises(InvalidInput) as error:  # the same id, now sent to the dispatch scan bar
        dispatch.hand_over(fulfilment.location, "XX", "same-id-0001", actor=ACTOR)
    assert set(error.value.fields) == {"scan_id"}
    other = picked_fulfilment(1, store=fulfilment.location)
    with pytest.raises(InvalidInput):  # or to another order's packing at the same store
        packing.pack_scan(other, None, gtin, "same-id-0001", actor=ACTOR)


@pytest.mark.parametrize("client_id", ["", "short", "x" * 65, "has space1", "semi;colon1"])
def test_a_scan_id_must_be_8_to_64_safe_characters(client_id):
    with pytest.raises(InvalidInput):
        scans.check_client_id(client_id)
    assert scans.check_client_id(" abc-DEF_123 ") == "abc-DEF_123"
