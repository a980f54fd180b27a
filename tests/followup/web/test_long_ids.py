"""Finding 9 of issue 19: an over-long row id in a URL is "not found", not a
server error (it used to reach the database: integer out of range)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/residents/99999999999999999999"),
        ("GET", "/residents/2147483648"),
        ("GET", "/residents/99999999999999999999/fhir.json"),
        ("POST", "/residents/99999999999999999999/ack"),
    ],
)
def test_an_over_long_resident_id_is_not_found(doctor: TestClient, method: str, path: str) -> None:
    r = doctor.request(method, path, follow_redirects=False)
    assert r.status_code in {400, 403, 404}, (r.status_code, r.text[:300])


def test_an_over_long_user_id_is_not_found(admin: TestClient) -> None:
    r = admin.post("/admin/users/99999999999999999999/active", follow_redirects=False)
    assert r.status_code in {400, 403, 404}, (r.status_code, r.text[:300])
