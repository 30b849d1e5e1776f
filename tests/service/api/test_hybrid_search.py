"""Hybrid search through POST /v1/search, with the real embedder and Chroma: a chunk that holds
the identifier asked about is found first where the vectors alone rank its look-alikes ahead."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.apps import app_client, app_settings
from tests.support.settings import AUTH

pytestmark = [pytest.mark.models]

SUPPLIERS = ["Kestrel Office Supplies", "Harbor Paper Co", "Lumen Furniture", "Northwind Print"]


def _invoice(number: int) -> bytes:
    supplier = SUPPLIERS[number % len(SUPPLIERS)]
    return (
        f"# Supplier invoice\n\nThis invoice from {supplier} covers standing desks, monitor "
        f"arms, office chairs and printer paper delivered to the Leeds office in October. "
        f"Its reference number is {number}. Payment is due within 30 days of the invoice date, "
        f"by bank transfer, quoting the reference; late payments carry interest.\n"
    ).encode()


def _first_source(root: Path, hybrid: bool, query: str) -> str:
    settings = app_settings(root, retrieval={"hybrid": hybrid}, plugins={"allow": ["documents"]})
    with app_client(settings) as c:
        for number in range(4001, 4017):
            response = c.post(
                "/v1/documents",
                headers=AUTH,
                files={"file": (f"supplier-{number - 4000:02d}.md", _invoice(number))},
            )
            assert response.status_code == 201, response.text
        response = c.post("/v1/search", headers=AUTH, json={"query": query, "top_k": 4})
        assert response.status_code == 200, response.text
        return str(response.json()["data"][0]["source"])


def test_the_chunk_holding_the_asked_number_comes_first(tmp_path: Path) -> None:
    query = "Which supplier sent the invoice with reference 4011?"
    assert _first_source(tmp_path / "hybrid", True, query) == "supplier-11.md"
    # the baseline this exists for: sixteen near-identical invoices, one number apart
    assert _first_source(tmp_path / "vectors", False, query) != "supplier-11.md"
