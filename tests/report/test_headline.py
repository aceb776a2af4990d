"""The report's headline: best buys by cost per conservative target point, first on the page.

A small seeded DP-style release (``release()``) is built by hand so each rule
has a cell that would break it: a cell whose point rating is high only by
noise (ranked first on the point estimate, not on the conservative bound),
a light-viewer tier that is cheapest per point where it under-watches
(index < 100, never a buy), and dayparts named with their clock hours. The
page built from it is then opened in headless Chromium (the DevTools client
of ``test_browser``): the first 1280 x 800 screen holds each target's table,
and a click on a header sorts the rows.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from matplotlib.image import imread

from linkage.measure import DAYPART_NAMES, DAYPARTS, tier_codes
from linkage.plan import PlanRequest, RateCell, make_plan
from linkage.release import DEFAULT_DELTA, ReleaseHead, epsilon_of
from linkage.report import (
    BEST_BUYS_PER_SEGMENT,
    best_buys,
    build_report,
    daypart_label,
    decode_viewership,
    viewing_coverage,
)
from linkage.tables import MATCH_REPORT_SCHEMA, RELEASE_SCHEMA
from tests.report.test_browser import DevTools, chromium

X = "headline-2026"
WHEN = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
CODES = {"persuadable": "s0123456789abcdef", "turnout": "sfedcba9876543210"}
VOTERS = {"all_matched": 20_000, "persuadable": 4_000, "turnout": 3_000}
TARGETS = ("persuadable", "turnout")
CHANNELS = ("ABC", "CBS", "CNN", "ESPN", "FOX", "HGTV", "NBC", "TLC")
UNIVERSE = {"*": 10_000, "persuadable": 2_000, "turnout": 1_500, "persuadable:light": 600}
LUCKY = ("CNN", "prime")  # persuadable: high point rating, almost all noise
STEADY = ("FOX", "prime")  # persuadable: a lower rating, measured tightly
UNDER = ("TLC", "overnight")  # the light tier's cheapest cell, where it under-watches
OVER = ("HGTV", "daytime")  # where the light tier over-watches
HEAD = ReleaseHead(
    provider="p" * 32,
    org="headline-campaign",
    campaign="c" * 32,
    exchange=X,
    seq=2,
    prev="0" * 64,
    hash="1" * 64,
    rho=0.245,
    rho_spent=0.49,
)


DAYS = ("weekday",)
"""One day type: one heatmap per segment keeps the page's build short."""
FACTOR = {"*": 1.0, "persuadable": 1.0, "turnout": 1.0, "persuadable:light": 0.5}
"""Each segment's rating over all matched households' (jittered for the two targets)."""


@functools.cache
def release() -> pa.Table:
    """A coded release: daypart, quarter-hour (prime only) and period rows, with 95% intervals."""
    rng = np.random.default_rng(20261001)
    code = {"*": "*", **CODES, "persuadable:light": CODES["persuadable"] + ":light"}
    rows: list[dict[str, Any]] = []

    def add(
        grain: str, segment: str, channel: str, day: str, daypart: str | None, **kw: Any
    ) -> None:
        rating, half = kw.pop("rating"), kw.pop("half")
        universe = UNIVERSE[segment]
        aqh = rating * universe / 100.0
        rows.append(
            {
                "grain": grain,
                "segment": code[segment],
                "channel": channel,
                "day_type": day,
                "daypart": daypart,
                "universe": universe,
                "aqh_households": aqh,
                "rating": rating,
                "share": rating * 5.0,
                "suppressed": False,
                "aqh_households_ci": half * universe / 100.0,
                "rating_ci": half,
                "share_ci": half * 5.0,
                "matched_records": None,
                **kw,
            }
        )

    base = {
        (channel, day, daypart): 0.4 + 2.0 * rng.random()
        for channel in CHANNELS
        for day in DAYS
        for daypart in DAYPART_NAMES
    }
    for segment in UNIVERSE:
        for channel in CHANNELS:
            for day in DAYS:
                for daypart in DAYPART_NAMES:
                    jitter = 0.8 + 0.4 * rng.random() if segment in TARGETS else 1.0
                    rating = base[channel, day, daypart] * FACTOR[segment] * jitter
                    if segment == "persuadable:light" and (channel, daypart) == OVER:
                        rating *= 3.0  # index 150
                    half = 0.1 * rating
                    if segment == "persuadable" and (channel, daypart) == LUCKY:
                        rating, half = 6.0, 5.9
                    if segment == "persuadable" and (channel, daypart) == STEADY:
                        rating, half = 3.0, 0.1
                    if segment == "persuadable" and (channel, daypart) == UNDER:
                        rating, half = 0.02, 0.019  # a $1 spot, but almost no audience
                    if segment == "*" and (channel, daypart) == UNDER:
                        rating = 2.0
                    if segment == "persuadable:light" and (channel, daypart) == UNDER:
                        rating, half = 1.0, 0.05  # index 50 against all matched's 2.0
                    add("daypart", segment, channel, day, daypart, rating=rating, half=half)
                for qh in range(80, 92):  # prime's quarter-hours: released, noisy
                    add(
                        "quarter_hour", segment, channel, day, "prime",
                        rating=1.0, half=0.5, quarter_hour=qh,
                    )  # fmt: skip
            add("period", segment, channel, "all", None, rating=1.0, half=0.05)
    table = pa.Table.from_pylist(rows, schema=RELEASE_SCHEMA)
    return table


def ratecard() -> tuple[RateCell, ...]:
    cells = []
    for i, channel in enumerate(CHANNELS):
        for j, daypart in enumerate(DAYPART_NAMES):
            cost = 5_000 + 1_000 * ((3 * i + 5 * j) % 7)
            if (channel, daypart) in (LUCKY, STEADY):
                cost = 5_000
            if (channel, daypart) == UNDER:
                cost = 100  # by far the cheapest spot of the card
            cells.append(RateCell(channel, daypart, cost, 20))
    return tuple(cells)


def match_report() -> pa.Table:
    row = {
        "linked_households": 10_000,
        "linked_records": 12_000,
        "records_cap": 8,
        "est_precision": 0.98,
        "est_recall": None,
        "households_ci": 19.6,
        "records_ci": 40.0,
        "rho": 0.005,
    }
    return pa.Table.from_pylist([row], schema=MATCH_REPORT_SCHEMA)


def comparison() -> pa.Table:
    """``plan_comparison.csv`` as the plan writes it (the targets are the rows with a weight)."""
    rows = [
        {"plan": plan, "segment": segment, "weight": weight, "spots": 40, "channels": 6,
         "cost": 180_000.0, "trps": trps, "cost_per_trp": 180_000.0 / trps, "reach": reach,
         "avg_frequency": trps / reach}
        for plan, segment, weight, trps, reach in (
            ("optimized", "persuadable", 0.5, 240.0, 71.5),
            ("optimized", "turnout", 0.5, 200.0, 64.0),
            ("optimized", "persuadable:light", None, 90.0, 30.0),
            ("optimized", "all_matched", None, 150.0, 55.0),
            ("all_households", "persuadable", 0.5, 120.0, 50.0),
        )
    ]  # fmt: skip
    return pa.Table.from_pylist(rows)


@functools.cache
def decoded() -> pa.Table:
    return decode_viewership(release(), tier_codes(CODES))


# --- the ranking ---------------------------------------------------------------------


def test_dayparts_carry_their_clock_hours() -> None:
    assert daypart_label("prime") == "Prime 20:00-23:00"
    assert daypart_label("late_fringe") == "Late fringe 23:30-01:00"
    assert daypart_label("early_morning") == "Early morning 06:00-09:00"
    assert daypart_label("no_such_daypart") == "no_such_daypart"
    assert len({daypart_label(dp.name) for dp in DAYPARTS}) == len(DAYPARTS)


def test_best_buys_rank_on_the_conservative_bound_not_the_point_estimate() -> None:
    cells = ratecard()
    buys = best_buys(decoded(), cells, ["persuadable"], per_segment=len(cells))
    order = [(b.channel, b.daypart) for b in buys]
    # On the point estimate the lucky cell (6.0 rating points for $50) beats the steady one...
    by_point = [
        (b.channel, b.daypart) for b in sorted(buys, key=lambda b: b.cost_per_spot / b.rating)
    ]
    assert by_point.index(LUCKY) < by_point.index(STEADY)
    # ...on the conservative bound (6.0 - 5.9) it is among the dearest, behind the steady one.
    assert order[0] == STEADY
    assert order.index(LUCKY) > len(order) // 2
    for buy in buys:
        assert 0.0 < buy.conservative_rating < buy.rating
        assert buy.cost_per_point == pytest.approx(buy.cost_per_spot / buy.conservative_rating)
    costs = [b.cost_per_point for b in buys]
    assert costs == sorted(costs)


def test_a_light_tier_is_never_a_buy_where_it_under_watches() -> None:
    cells = ratecard()
    buys = best_buys(decoded(), cells, ["persuadable:light"], per_segment=len(cells))
    assert buys, "the tier over-watches somewhere: it has buys"
    assert all(b.index is not None and b.index >= 100.0 for b in buys)
    assert UNDER not in [(b.channel, b.daypart) for b in buys]
    assert (buys[0].channel, buys[0].daypart) == OVER
    # The plain segment is ranked by cost alone: the same cheap cell is a buy for it.
    plain = best_buys(decoded(), cells, ["persuadable"], per_segment=len(cells))
    assert UNDER in [(b.channel, b.daypart) for b in plain]


def test_coverage_is_a_lower_bound_from_released_cells() -> None:
    covered = viewing_coverage(decoded())
    persuadable = covered["persuadable"]
    assert persuadable.quarter_hour is not None and persuadable.daypart is not None
    # Quarter-hours: only prime's 12 of 96 are released, each at 1.0 - 0.5 against the
    # period's 8 channels x 1.0 per quarter-hour: 12 x 8 x 0.5 / (96 x 8 x 1.0).
    assert persuadable.quarter_hour == pytest.approx(12 * 0.5 / 96)
    assert 0.0 < persuadable.daypart <= 1.0


def test_plan_caveat_when_most_cells_are_valued_at_zero() -> None:
    cells = ratecard()
    table = decoded()
    # Suppress turnout everywhere but two channels: most cells are worth nothing to it.
    rows = table.to_pylist()
    for row in rows:
        if row["segment"] == "turnout" and row["channel"] not in ("ABC", "CBS"):
            for column in ("aqh_households", "rating", "share", "rating_ci"):
                row[column] = None
            row["suppressed"] = True
    sparse = pa.Table.from_pylist(rows, schema=table.schema)
    request = PlanRequest({"turnout": 1.0}, budget=60_000.0, time_limit=5.0)
    result = make_plan(cells, sparse, request)
    zero = len(cells) - 2 * len(DAYPART_NAMES)
    assert (result.zero_valued, result.cells) == (zero, len(cells))
    assert result.caveat is not None
    assert f"{zero} of {len(cells)} rate-card cells were valued at zero" in result.caveat
    assert make_plan(cells, table, request).caveat is None


# --- the page ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def page() -> str:
    report = build_report(
        X,
        CODES,
        match_report(),
        release(),
        voters=VOTERS,
        plan_comparison=comparison(),
        plan=pa.table(
            {
                "channel": ["FOX"],
                "daypart": ["prime"],
                "spots": [3],
                "cost": [150.0],
                "target_trps": [3.0],
            }
        ),
        ratecard=ratecard(),
        receipt=HEAD,
        generated_at=WHEN,
    )
    assert report.html is not None
    assert report.targets == TARGETS
    return report.html


def table_rows(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1])
    ]


def test_the_page_opens_with_each_targets_best_buys(page: str) -> None:
    headline = page.index('id="headline"')
    assert headline < page.index('id="summary"')
    for segment in TARGETS:
        expected = best_buys(decoded(), ratecard(), [segment])
        rows = table_rows(page, f"best-buys-{segment}")
        assert len(rows) == len(expected) == BEST_BUYS_PER_SEGMENT
        # rank, channel, daypart with clock hours, $ per point, ...
        assert [(r[1], r[2]) for r in rows] == [
            (b.channel, daypart_label(b.daypart)) for b in expected
        ]
        assert all(r[3].startswith("$") and r[4].endswith("%") for r in rows)
    assert rows[0][2].split()[-1].count(":") == 2  # "Prime 20:00-23:00"
    card = page.split('id="headline-persuadable"', 1)[1].split("</section>", 1)[0]
    assert "240.0 TRPs</b> (points)" in card and "71.5%" in card and "$180,000" in card
    assert "at least <b>6% (quarter-hours)</b>, " in card  # 12 x 0.5 / 96, rounded
    assert table_rows(page, "best-buys-persuadable")[0][1:3] == [
        STEADY[0],
        daypart_label(STEADY[1]),
    ]


def test_units_on_every_number(page: str) -> None:
    headers = re.findall(r'<th><button type="button" class="sort">([^<]*)</button>', page)
    best = page.split('id="best-buys-persuadable"', 1)[1].split("</thead>", 1)[0]
    assert "cost per target point ($)" in best and "rating, low (%)" in best
    assert "cost per spot ($)" in best
    assert "TRPs (points)" in headers and "reach (%)" in headers
    assert "households (households)" in headers and "cost per target point ($)" in headers
    for row in table_rows(page, "plan-comparison-table"):
        assert row[4].startswith("$") and row[7].endswith("%")


def test_top_buys_never_list_a_light_tier_that_under_watches(page: str) -> None:
    rows = table_rows(page, "top-buys-table")
    light = [r for r in rows if r[0] == "persuadable:light"]
    assert light, "the tier has buys where it over-watches"
    assert all(float(r[6]) >= 100.0 for r in light)  # index column
    assert (UNDER[0], daypart_label(UNDER[1])) not in [(r[1], r[2]) for r in light]


def test_privacy_note_states_k_epsilon_and_the_ledger_spend(page: str) -> None:
    privacy = page.split('id="privacy"', 1)[1]
    assert "not stated" not in page
    assert "(k): 50 households" in privacy
    assert f"epsilon {epsilon_of(HEAD.rho, DEFAULT_DELTA):.2f}, rho 0.245" in privacy
    assert f"rho 0.49 (epsilon {epsilon_of(HEAD.rho_spent, DEFAULT_DELTA):.2f}) spent" in privacy
    assert "release 2 to this organisation" in privacy


# --- in the browser ----------------------------------------------------------------

WIDTH, HEIGHT = 1280, 800

PROBE = """JSON.stringify([...document.querySelectorAll('table[id^="best-buys-"]')].map(t => {
  const box = t.getBoundingClientRect();
  return {id: t.id, top: box.top, bottom: box.bottom, left: box.left, right: box.right,
          rows: t.tBodies[0].rows.length};
}))"""

SORT_TARGET = "document.querySelector('#top-buys-table thead th:nth-child(4) button')"

COLUMN = """JSON.stringify([...document.querySelectorAll('#top-buys-table tbody tr')]
  .map(r => r.cells[3].getAttribute('data-v')))"""


@pytest.fixture(scope="module")
def browser(page: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    executable = chromium()
    root = tmp_path_factory.mktemp("headline-browser")
    path = root / "report.html"
    path.write_text(page, encoding="utf-8")
    tools = DevTools(executable, root / "profile")
    try:
        target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Page"):
            tools.call(f"{domain}.enable", session=session)
        tools.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        tools.call("Page.navigate", {"url": path.as_uri()}, session=session)
        tools.wait_for("Page.loadEventFired")

        def evaluate(expression: str) -> Any:
            result = tools.call(
                "Runtime.evaluate", {"expression": expression, "returnByValue": True},
                session=session,
            )  # fmt: skip
            return result["result"].get("value")

        def click(selector: str) -> None:
            box = json.loads(
                evaluate(
                    f"(() => {{ const e = {selector}; e.scrollIntoView({{block: 'center'}}); "
                    "const b = e.getBoundingClientRect(); "
                    "return JSON.stringify([b.left + b.width / 2, b.top + b.height / 2]); })()"
                )
            )
            for kind in ("mousePressed", "mouseReleased"):
                tools.call(
                    "Input.dispatchMouseEvent",
                    {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1},
                    session=session,
                )

        shot = tools.call("Page.captureScreenshot", {"format": "png"}, session=session)
        yield {"evaluate": evaluate, "click": click, "shot": shot["data"], "dir": root}
    finally:
        tools.close()


def test_the_first_screen_holds_every_targets_best_buys(browser: dict[str, Any]) -> None:
    boxes = {box["id"]: box for box in json.loads(browser["evaluate"](PROBE))}
    assert set(boxes) == {f"best-buys-{t}" for t in TARGETS}
    for box in boxes.values():
        assert box["rows"] == BEST_BUYS_PER_SEGMENT
        assert 0 <= box["top"] < box["bottom"] <= HEIGHT, box
        assert 0 <= box["left"] < box["right"] <= WIDTH, box
    # The screenshot is of that screen, and not blank.
    shot = Path(browser["dir"]) / "first-screen.png"
    shot.write_bytes(base64.b64decode(browser["shot"]))
    pixels = np.asarray(imread(shot))
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    assert float(pixels[..., :3].std()) > 0.02


def test_clicking_a_header_sorts_the_rows(browser: dict[str, Any]) -> None:
    def column() -> list[float]:
        return [float(v) for v in json.loads(browser["evaluate"](COLUMN))]

    before = column()  # cost per point, ascending within each segment, not overall
    assert before != sorted(before)
    browser["click"](SORT_TARGET)
    assert column() == sorted(before)
    browser["click"](SORT_TARGET)
    assert column() == sorted(before, reverse=True)
