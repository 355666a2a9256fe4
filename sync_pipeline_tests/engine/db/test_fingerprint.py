import os
import subprocess
import sys

import pytest

from sync_pipeline.engine.fingerprint import (
    FINGERPRINT_BYTES,
    FingerprintError,
    canonical_json,
    fingerprint,
)
from sync_pipeline.entities.cars import CARS

CAR = {
    "id": 100001,
    "vin": "4T1BF1FK5EU123456",
    "make": "Toyota",
    "model": "Camry",
    "year": 2014,
    "trim": None,
    "price": "18450.00",
    "mileage": 81234,
    "color": "Pearl White",
    "fuel": "gasoline",
    "dealer": {"id": 7003, "name": "Austin Toyota", "city": "Austin", "state": "TX"},
    "features": ["Bluetooth", "Backup Camera"],
    "listed_at": "2026-10-01T08:15:00.123Z",
    "updated_at": "2026-11-23T08:15:00.123Z",
    "scraped_at": "2026-11-23T09:00:00.000Z",
    "views": 412,
}
ODD = {
    "id": 1,
    "name": 'Zoë 👩🏽‍💻 "quoted"\\',
    "ratio": 0.1,
    "big": 2**63 - 1,
    "neg": -5,
    "flag": True,
    "nested": {"b": [3, {"z": None, "a": 1.5e-7}], "a": {}},
    "empty": [],
}

# Golden values: changing the canonical form changes every stored fingerprint (and rewrites every
# row on the next sync). If this test fails, that is what the change would do in production.
GOLDEN_CAR_JSON = (
    b'{"color":"Pearl White","dealer":{"city":"Austin","id":7003,"name":"Austin Toyota",'
    b'"state":"TX"},"features":["Bluetooth","Backup Camera"],"fuel":"gasoline",'
    b'"listed_at":"2026-10-01T08:15:00.123Z","make":"Toyota","mileage":81234,"model":"Camry",'
    b'"price":"18450.00","vin":"4T1BF1FK5EU123456","year":2014}'
)
GOLDEN_CAR = "d4c240ee03109a10622588ad8aa0abb9"
GOLDEN_ODD = "0910a9151428647d228d2bf4b62bd54f"


def test_golden_fingerprints():
    assert canonical_json(CAR, CARS.fingerprint_excluded) == GOLDEN_CAR_JSON
    assert fingerprint(CAR, CARS.fingerprint_excluded).hex() == GOLDEN_CAR
    assert fingerprint(ODD, frozenset({"id"})).hex() == GOLDEN_ODD
    assert len(fingerprint(CAR, CARS.fingerprint_excluded)) == FINGERPRINT_BYTES


def test_key_order_at_every_depth_does_not_matter():
    reordered = {k: CAR[k] for k in reversed(list(CAR))}
    reordered["dealer"] = {k: CAR["dealer"][k] for k in reversed(list(CAR["dealer"]))}
    assert fingerprint(reordered, CARS.fingerprint_excluded) == fingerprint(
        CAR, CARS.fingerprint_excluded
    )


def test_volatile_fields_and_key_are_left_out():
    touched = dict(
        CAR, updated_at="2027-01-01T00:00:00Z", scraped_at="2027-01-01T00:00:00Z", views=9999
    )
    assert fingerprint(touched, CARS.fingerprint_excluded) == fingerprint(
        CAR, CARS.fingerprint_excluded
    )
    assert fingerprint(dict(CAR, id=5), CARS.fingerprint_excluded) == fingerprint(
        CAR, CARS.fingerprint_excluded
    )


def test_missing_optional_field_equals_null():
    without_trim = {k: v for k, v in CAR.items() if k != "trim"}
    assert fingerprint(without_trim, CARS.fingerprint_excluded) == fingerprint(
        CAR, CARS.fingerprint_excluded
    )


@pytest.mark.parametrize(
    "change",
    [
        {"price": "18450.01"},
        {"trim": "LE"},
        {"features": ["Backup Camera", "Bluetooth"]},  # list order is meaningful
        {"dealer": {"id": 7003, "name": "Austin Toyota", "city": "Austin", "state": "tx"}},
        {"year": "2014"},  # a type change is a change
        {"unknown_field": 1},  # unknown fields are business data (kept in `extra`)
    ],
)
def test_business_changes_change_the_fingerprint(change):
    assert fingerprint(dict(CAR, **change), CARS.fingerprint_excluded) != fingerprint(
        CAR, CARS.fingerprint_excluded
    )


def test_unrepresentable_values_raise():
    with pytest.raises(FingerprintError):
        fingerprint(dict(CAR, mileage=2**64), CARS.fingerprint_excluded)
    with pytest.raises(FingerprintError):
        fingerprint(dict(CAR, model="\ud800"), CARS.fingerprint_excluded)


def test_same_digest_in_other_processes_and_hash_seeds():
    code = (
        "from sync_pipeline.engine.fingerprint import fingerprint;"
        "from sync_pipeline_tests.engine.db.test_fingerprint import CAR, ODD;"
        "from sync_pipeline.entities.cars import CARS;"
        "print(fingerprint(CAR, CARS.fingerprint_excluded).hex(), "
        "fingerprint(ODD, frozenset({'id'})).hex())"
    )
    for seed in ("0", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert out.stdout.split() == [GOLDEN_CAR, GOLDEN_ODD]
