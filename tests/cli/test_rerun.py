"""Every party step, run again on a completed exchange: the same outputs, or a refusal.

A re-run with the same inputs either reproduces what the step wrote (the
same payloads; a re-sealed message differs in bytes, so payloads are
compared opened) or refuses in one line that names ``--force`` and what
forcing invalidates. A refusal leaves every file of the exchange as it was:
same bytes, same modification time. A re-run never buys fresh noise.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from linkage.io import PartyHome, open_message_file
from tests.conftest import MIN_UNIVERSE, PLAN_BUDGET, PLAN_TARGETS, Exchange, K, Ran, cli

Snapshot = dict[str, tuple[str, int]]


def snapshot(root: Path) -> Snapshot:
    """Every file under ``root`` (the shared world left out): digest and mtime."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != "world"
    }


def digests(snap: Snapshot) -> dict[str, str]:
    return {path: digest for path, (digest, _) in snap.items()}


def assert_refused(ran: Ran, *must_name: str) -> None:
    assert ran.code == 2, ran.stderr
    lines = ran.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("narwhal: error: "), ran.stderr
    for needle in must_name:
        assert needle in lines[0], (needle, lines[0])


def payload(path: Path, holder: Path, kind: str, exchange: str) -> pa.Table:
    """A message opened by its recipient ``holder``, rows in a canonical order."""
    home = PartyHome(holder)
    table = open_message_file(
        path, me=home.identity(), contacts=home.trusted(), expected_kind=kind,
        expected_exchange=exchange,
    ).table  # fmt: skip
    plain = [c for c in table.column_names if not pa.types.is_list(table.schema.field(c).type)]
    return table.sort_by([(c, "ascending") for c in plain])


def tokenize(ex: Exchange, *extra: str | Path, segments: Path | None = None) -> Ran:
    return cli(
        "campaign", "tokenize", "--home", ex.home("campaign"),
        "--voters", ex.world / "campaign/voters.parquet",
        "--segments", segments or ex.world / "campaign/segments.toml",
        "--exchange", ex.exchange_id, *extra,
    )  # fmt: skip


def aggregate(ex: Exchange, k: int = K) -> Ran:
    w = ex.world
    return cli(
        "provider", "aggregate", "--home", ex.home("provider"),
        "--viewing", w / "provider/viewing.parquet", "--channels", w / "provider/channels.csv",
        "--period", (w / "provider/period.txt").read_text().strip(),
        "--exchange", ex.exchange_id, "--k", str(k), "--min-universe", str(MIN_UNIVERSE),
    )  # fmt: skip


def test_tokenize_again_refuses_and_touches_nothing(
    exchange_copy: Exchange, tmp_path: Path
) -> None:
    ex = exchange_copy
    before = snapshot(ex.root)
    # Tokens sent: only a new exchange id starts over (two draws of one id
    # would let the matcher strip the dummy rows), with or without --force.
    assert_refused(tokenize(ex), "already tokenized", "new exchange id")
    assert_refused(tokenize(ex, "--force"), "already has campaign tokens", "cannot draw them")
    fewer = tmp_path / "segments.toml"
    rules = (ex.world / "campaign/segments.toml").read_text()
    fewer.write_text(rules.split("[segments.latino]")[0], encoding="utf-8")
    assert_refused(tokenize(ex, segments=fewer), "other inputs", "new exchange id")

    subscribers = pq.read_table(ex.world / "provider/subscribers.parquet")
    pq.write_table(subscribers.slice(0, subscribers.num_rows - 10), tmp_path / "subs.parquet")
    for source in (ex.world / "provider/subscribers.parquet", tmp_path / "subs.parquet"):
        args = (
            "provider", "tokenize", "--home", ex.home("provider"), "--subscribers", source,
            "--exchange", ex.exchange_id,
        )  # fmt: skip
        assert_refused(cli(*args), "already tokenized", "new exchange id")
        assert_refused(cli(*args, "--force"), "already tokenized", "--force cannot")
    assert snapshot(ex.root) == before


def test_interrupted_tokenize_finishes_with_the_same_refs_and_codes(
    exchange_copy: Exchange,
) -> None:
    ex = exchange_copy
    x, campaign = ex.exchange_id, PartyHome(ex.home("campaign"))
    state = (campaign.rid_map_path(x), campaign.segment_codes_path(x))
    kept = {p: p.read_bytes() for p in state}
    sent_codes = payload(ex.message("provider", "inbox", "segments"), ex.home("provider"),
                         "segments", x)  # fmt: skip
    tokens = ex.message("campaign", "outbox", "campaign-tokens")
    segments = ex.message("campaign", "outbox", "segments")

    # A crash after the state, before either message.
    tokens.unlink()
    segments.unlink()
    ran = tokenize(ex)
    assert ran.code == 0, ran.stderr
    assert "interrupted" in ran.stdout
    assert {p: p.read_bytes() for p in state} == kept
    assert payload(segments, ex.home("provider"), "segments", x).equals(sent_codes)
    rids = set(pq.read_table(state[0])["rid"].to_pylist())
    sent_rids = set(payload(tokens, ex.home("matcher"), "campaign-tokens", x)["rid"].to_pylist())
    assert rids <= sent_rids  # the dummies' refs besides

    # A crash between the two messages: only the missing one is written.
    segments.unlink()
    tokens_bytes = tokens.read_bytes()
    assert tokenize(ex).code == 0
    assert tokens.read_bytes() == tokens_bytes
    assert payload(segments, ex.home("provider"), "segments", x).equals(sent_codes)


def test_force_never_draws_the_tokens_of_an_exchange_twice(exchange_copy: Exchange) -> None:
    # Two draws under one key share every real row and no dummy: the matcher
    # would strip the dummies by intersecting them. A new exchange id is the way over.
    ex = exchange_copy
    codes = PartyHome(ex.home("campaign")).segment_codes_path(ex.exchange_id)
    before = codes.read_text()
    assert_refused(tokenize(ex, "--force"), "--force cannot", "new exchange id")
    assert codes.read_text() == before


def test_link_again_resends_the_same_payloads_or_refuses(exchange_copy: Exchange) -> None:
    ex = exchange_copy
    x = ex.exchange_id
    sent = {
        kind: payload(ex.message(holder, "inbox", kind), ex.home(holder), kind, x)
        for kind, holder in (("assignments", "provider"), ("match-report", "campaign"))
    }
    before = digests(snapshot(ex.home("matcher")))
    ran = cli("matcher", "link", "--home", ex.home("matcher"), "--exchange", x)
    assert ran.code == 0, ran.stderr
    assert "re-sent as first issued" in ran.stdout
    assert (
        ran.stdout.splitlines()[-1] == f"next: nothing; exchange {x} is done on the matcher's side"
    )
    for kind, holder in (("assignments", "provider"), ("match-report", "campaign")):
        again = payload(ex.message("matcher", "outbox", kind), ex.home(holder), kind, x)
        assert again.equals(sent[kind]), kind
    after = digests(snapshot(ex.home("matcher")))
    assert {p: d for p, d in after.items() if not p.endswith(".nwl")} == {
        p: d for p, d in before.items() if not p.endswith(".nwl")
    }

    untouched = snapshot(ex.root)
    ran = cli(
        "matcher", "link", "--home", ex.home("matcher"), "--exchange", x, "--threshold", "0.5"
    )
    assert_refused(ran, "--threshold", "--force", "invalidates")
    assert snapshot(ex.root) == untouched


def test_aggregate_again_resends_the_same_release_and_buys_no_noise(
    exchange_copy: Exchange,
) -> None:
    ex = exchange_copy
    x = ex.exchange_id
    released = payload(ex.message("campaign", "inbox", "viewership"), ex.home("campaign"),
                       "viewership", x)  # fmt: skip
    ledger = digests(snapshot(ex.home("provider") / "ledger"))
    receipt = ex.receipt("provider", "outbox").read_bytes()
    ran = aggregate(ex)
    assert ran.code == 0, ran.stderr
    assert "nothing new spent" in ran.stdout
    again = payload(ex.message("provider", "outbox", "viewership"), ex.home("campaign"),
                    "viewership", x)  # fmt: skip
    assert again.equals(released)
    assert digests(snapshot(ex.home("provider") / "ledger")) == ledger
    assert ex.receipt("provider", "outbox").read_bytes() == receipt

    # Other parameters are a new release: the ledger charges it, here beyond the budget.
    untouched = snapshot(ex.root)
    assert_refused(aggregate(ex, k=K + 1), "budget")
    assert snapshot(ex.root) == untouched


def test_plan_report_and_witness_again_reproduce(exchange_copy: Exchange, tmp_path: Path) -> None:
    ex = exchange_copy
    x, w = ex.exchange_id, ex.world
    plan = (
        "campaign", "plan", "--home", ex.home("campaign"), "--exchange", x,
        "--ratecard", w / "campaign/ratecard.csv", "--target", PLAN_TARGETS,
    )  # fmt: skip
    stamp = re.compile(r"generated [0-9-]+ [0-9:]+ UTC")
    html = stamp.sub("", (ex.report / "report.html").read_text())
    before = digests(snapshot(ex.root))
    assert cli(*plan, "--budget", str(PLAN_BUDGET), "--out", ex.report).code == 0
    ran = cli("campaign", "report", "--home", ex.home("campaign"), "--exchange", x,
              "--ratecard", w / "campaign/ratecard.csv", "--out", ex.report)  # fmt: skip
    assert ran.code == 0, ran.stderr
    assert ran.stdout.splitlines()[-1].startswith("next: send ")
    ran = cli(
        "matcher", "witness", "--home", ex.home("matcher"), "--receipt", ex.receipt("matcher")
    )
    assert ran.code == 0 and "already witnessed" in ran.stdout
    after = digests(snapshot(ex.root))
    assert after.keys() == before.keys()
    changed = {p for p in after if after[p] != before[p]}
    assert changed <= {"report/report.html"}  # its "generated at" minute
    assert stamp.sub("", (ex.report / "report.html").read_text()) == html

    # A plan with other inputs is a local what-if: it writes where told and nothing else.
    homes = digests(snapshot(ex.root))
    # (another target: its points column differs even when the tiny world buys nothing)
    what_if = (*plan[:-2], "--target", "latino", "--budget", str(PLAN_BUDGET))
    assert cli(*what_if, "--out", tmp_path / "what-if").code == 0
    assert digests(snapshot(ex.root)) == homes
    assert (tmp_path / "what-if" / "plan.csv").read_bytes() != (ex.report / "plan.csv").read_bytes()


def test_init_and_trust_again(exchange_copy: Exchange) -> None:
    ex = exchange_copy
    before = snapshot(ex.root)
    assert_refused(
        cli("campaign", "init", "--home", ex.home("campaign"), "--name", "again"),
        "already initialised", "--force", "invalidate",
    )  # fmt: skip
    assert snapshot(ex.root) == before
    ran = cli("campaign", "trust", "--home", ex.home("campaign"), ex.home("provider") / "card.json")
    assert ran.code == 0, ran.stderr
    assert digests(snapshot(ex.root)) == digests(before)


def test_empty_or_tiny_segments_are_refused_before_anything_is_sent(
    homes: Path, world_dir: Path, tmp_path: Path
) -> None:
    ex = Exchange(homes, "seg-check")
    segments = tmp_path / "segments.toml"
    cases = {
        "ethnicity == 'hispnic'": ("no voter matches segment(s) typo",),
        "support_score >= 100": ("segment(s) typo (", "minimum universe of 100 households"),
    }
    for rule, must_name in cases.items():
        segments.write_text(f'[segments.typo]\nrule = "{rule}"\n', encoding="utf-8")
        ran = cli(
            "campaign", "tokenize", "--home", ex.home("campaign"),
            "--voters", world_dir / "campaign/voters.parquet", "--segments", segments,
            "--exchange", ex.exchange_id,
        )  # fmt: skip
        assert_refused(ran, *must_name, "nothing was sent")
        assert not list((homes / "campaign").glob("*/seg-check*"))
        assert not (homes / "campaign" / "state" / "seg-check").exists()


def test_near_duplicate_segments_are_warned_about(
    homes: Path, world_dir: Path, tmp_path: Path
) -> None:
    segments = tmp_path / "segments.toml"
    segments.write_text(
        '[segments.high]\nrule = "support_score >= 60"\n'
        '[segments.same]\nrule = "support_score >= 60 and turnout_score >= 1"\n'
        '[segments.other]\nrule = "support_score < 60"\n',
        encoding="utf-8",
    )
    ran = cli(
        "campaign", "tokenize", "--home", homes / "campaign",
        "--voters", world_dir / "campaign/voters.parquet", "--segments", segments,
        "--exchange", "seg-overlap",
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    warnings = [line for line in ran.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "segments high and same share 100.0%" in warnings[0]
