"""Bad input: every malformed file is one clear line on stderr, exit 2, nothing written.

Each case runs the real CLI (typer's CliRunner on ``parties.cli.app``; one
case as a subprocess to pin the real process behaviour) in its own copy of
the session's introduced homes, on the session world, and asserts the exit
code, exactly one ``narwhal: error:`` line naming file / column / row, that
the offending value is not echoed, and that no output file appeared. The
readers and the envelope are then fuzzed with Hypothesis: arbitrary bytes may
only ever raise a ``NarwhalError``.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.encode import load_segments
from linkage.errors import NarwhalError
from linkage.io import MAX_FIELD_CHARS, read_input_table, read_text
from linkage.protocol import generate_identity, open_message, seal
from tests.conftest import cli, narwhal

SECRET_NAME = "Zebediah"  # planted in offending rows; must never reach stderr


@dataclass
class Setup:
    root: Path
    world: Path
    voters: pa.Table  # 300 voters, CSV-friendly

    def home(self, role: str) -> Path:
        return self.root / role

    @property
    def segments(self) -> Path:
        return self.world / "campaign" / "segments.toml"


@pytest.fixture(scope="module")
def voters(world_dir: Path) -> pa.Table:
    return pq.read_table(world_dir / "campaign" / "voters.parquet").slice(0, 300)


@pytest.fixture
def setup(homes: Path, world_dir: Path, voters: pa.Table) -> Setup:
    """This test's own homes (it writes outputs and inbox files), the shared world."""
    return Setup(homes, world_dir, voters)


def outputs(home: Path, exchange: str) -> list[Path]:
    """Everything a command for ``exchange`` may have written in ``home``."""
    found = [p for p in (home / "outbox").iterdir() if p.name.startswith(f"{exchange}.")]
    state = home / "state" / exchange
    if state.exists():
        found.extend(p for p in state.rglob("*"))
    return found


def assert_one_line_error(
    code: int, stderr: str, *, must_name: tuple[str, ...], must_not_show: tuple[str, ...] = ()
) -> None:
    assert code == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("narwhal: error: ")
    for needle in must_name:
        assert needle in lines[0], (needle, lines[0])
    for secret in (SECRET_NAME, *must_not_show):
        assert secret not in lines[0]
    assert "Traceback" not in stderr


def write_csv(table: pa.Table, path: Path) -> Path:
    pacsv.write_csv(table, path)
    return path


def set_cell(table: pa.Table, column: str, row: int, value: object) -> pa.Table:
    values = table[column].to_pylist()
    values[row] = value
    if isinstance(value, str):
        values = [None if v is None else str(v) for v in values]
    typ = pa.string() if isinstance(value, str) else table[column].type
    index = table.column_names.index(column)
    return table.set_column(index, column, pa.array(values, typ))


def tokenize(
    s: Setup, voters: Path, exchange: str, segments: Path | None = None
) -> tuple[int, str]:
    code, _, err = cli(
        "campaign",
        "tokenize",
        "--home",
        s.home("campaign"),
        "--voters",
        voters,
        "--segments",
        segments or s.segments,
        "--exchange",
        exchange,
        # 300 voters: every segment is below the default minimum universe.
        "--min-universe",
        "1",
    )
    return code, err


# --- the control: good input goes through --------------------------------------------


def test_clean_csv_voter_file_tokenizes(setup: Setup, tmp_path: Path) -> None:
    path = write_csv(setup.voters, tmp_path / "voters.csv")
    code, err = tokenize(setup, path, "ok-csv")
    assert code == 0, err
    assert [p.name for p in outputs(setup.home("campaign"), "ok-csv") if p.suffix == ".nwl"]


# --- one case per bad input -----------------------------------------------------------

Case = Callable[[Setup, Path], tuple[Path, tuple[str, ...]]]


def _missing_column(s: Setup, d: Path) -> tuple[Path, tuple[str, ...]]:
    path = write_csv(s.voters.drop_columns(["last_name"]), d / "voters.csv")
    return path, ("voters.csv", "column 'last_name'")


def _renamed_column(s: Setup, d: Path) -> tuple[Path, tuple[str, ...]]:
    names = ["FirstName" if n == "first_name" else n for n in s.voters.column_names]
    path = write_csv(s.voters.rename_columns(names), d / "voters.csv")
    return path, ("voters.csv", "column 'first_name'")


def _numeric_first_name(s: Setup, d: Path) -> tuple[Path, tuple[str, ...]]:
    index = s.voters.column_names.index("first_name")
    table = s.voters.set_column(index, "first_name", pa.array(range(s.voters.num_rows)))
    path = d / "voters.parquet"
    pq.write_table(table, path)
    return path, ("voters.parquet", "column 'first_name'", "row 1", "expected text")


def _string_score(s: Setup, d: Path) -> tuple[Path, tuple[str, ...]]:
    table = set_cell(s.voters, "support_score", 6, SECRET_NAME)
    return write_csv(table, d / "voters.csv"), ("column 'support_score'", "row 7", "number")


def _empty_csv(s: Setup, d: Path) -> tuple[Path, tuple[str, ...]]:
    path = d / "voters.csv"
    path.write_bytes(b"")
    return path, ("voters.csv", "empty")


def _empty_parquet(s: Setup, d: Path) -> tuple[Path, tuple[str, ...]]:
    path = d / "voters.parquet"
    path.write_bytes(b"")
    return path, ("voters.parquet", "empty")


def _header_only(s: Setup, d: Path) -> tuple[Path, tuple[str, ...]]:
    return write_csv(s.voters.slice(0, 0), d / "voters.csv"), ("voters.csv", "no rows")


def _not_utf8(s: Setup, d: Path) -> tuple[Path, tuple[str, ...]]:
    path = write_csv(set_cell(s.voters, "first_name", 41, SECRET_NAME), d / "voters.csv")
    path.write_bytes(path.read_bytes().replace(SECRET_NAME.encode(), b"Zebediah\xff\xfe"))
    return path, ("voters.csv", "column 'first_name'", "row 42", "UTF-8")


def _duplicate_voter_id(s: Setup, d: Path) -> tuple[Path, tuple[str, ...]]:
    first = s.voters["voter_id"][0].as_py()
    table = set_cell(s.voters, "voter_id", 99, first)
    return write_csv(table, d / "voters.csv"), ("column 'voter_id'", "row 100", "duplicate")


def _truncated_parquet(s: Setup, d: Path) -> tuple[Path, tuple[str, ...]]:
    path = d / "voters.parquet"
    pq.write_table(s.voters, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path, ("voters.parquet", "truncated or corrupt")


def _long_field(s: Setup, d: Path) -> tuple[Path, tuple[str, ...]]:
    table = set_cell(s.voters, "address", 9, SECRET_NAME * 200)
    return write_csv(table, d / "voters.csv"), ("column 'address'", "row 10", "1000 characters")


def _ragged_row(s: Setup, d: Path) -> tuple[Path, tuple[str, ...]]:
    path = write_csv(s.voters, d / "voters.csv")
    lines = path.read_bytes().split(b"\n")
    lines[5] = lines[5] + b',"Zebediah"'
    path.write_bytes(b"\n".join(lines))
    return path, ("voters.csv", "row 5", "number of fields")


CASES: dict[str, Case] = {
    "missing-column": _missing_column,
    "renamed-column": _renamed_column,
    "numeric-first-name": _numeric_first_name,
    "string-score": _string_score,
    "empty-csv": _empty_csv,
    "empty-parquet": _empty_parquet,
    "header-only": _header_only,
    "not-utf8": _not_utf8,
    "duplicate-voter-id": _duplicate_voter_id,
    "truncated-parquet": _truncated_parquet,
    "absurdly-long-field": _long_field,
    "ragged-row": _ragged_row,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_voter_file(setup: Setup, tmp_path: Path, case: str) -> None:
    path, must_name = CASES[case](setup, tmp_path)
    exchange = f"bad-{case}"
    code, err = tokenize(setup, path, exchange)
    assert_one_line_error(code, err, must_name=must_name)
    assert outputs(setup.home("campaign"), exchange) == []


def test_duplicate_household_id(setup: Setup, tmp_path: Path) -> None:
    subs = pq.read_table(setup.world / "provider" / "subscribers.parquet")
    dup = set_cell(subs, "household_id", 12, subs["household_id"][3].as_py())
    path = tmp_path / "subscribers.parquet"
    pq.write_table(dup, path)
    code, _, err = cli(
        "provider", "tokenize", "--home", setup.home("provider"), "--subscribers", path,
        "--exchange", "bad-dup-hh",
    )  # fmt: skip
    hid = subs["household_id"][3].as_py()
    assert_one_line_error(
        code, err, must_name=("subscribers.parquet", "column 'household_id'", "row 13"),
        must_not_show=(hid,),
    )  # fmt: skip
    assert outputs(setup.home("provider"), "bad-dup-hh") == []


@pytest.mark.parametrize("role", ["campaign", "provider"])
def test_tokenize_refuses_an_unknown_engine_before_any_work(
    setup: Setup, tmp_path: Path, role: str
) -> None:
    inputs = (
        ("--voters", setup.world / "campaign" / "voters.parquet", "--segments", setup.segments)
        if role == "campaign"
        else ("--subscribers", setup.world / "provider" / "subscribers.parquet")
    )
    exchange = f"bad-engine-{role}"
    code, _, err = cli(
        role, "tokenize", "--home", setup.home(role), *inputs, "--exchange", exchange,
        "--engine", "postgres",
    )  # fmt: skip
    assert_one_line_error(code, err, must_name=("unknown engine 'postgres'",))
    assert outputs(setup.home(role), exchange) == []


@pytest.mark.parametrize(
    ("rule", "must_name"),
    [
        ("support_score >>> 3", ("segments.toml", "segment 'broken'", "not a valid expression")),
        ("__import__('os')", ("segments.toml", "segment 'broken'")),
        ("no_such_column > 3", ("segments.toml", "segment 'broken'", "unknown column")),
    ],
)
def test_segment_rule_that_does_not_parse(
    setup: Setup, tmp_path: Path, rule: str, must_name: tuple[str, ...]
) -> None:
    segments = tmp_path / "segments.toml"
    segments.write_text(f'[segments.broken]\nrule = "{rule}"\n', encoding="utf-8")
    voters = write_csv(setup.voters, tmp_path / "voters.csv")
    code, err = tokenize(setup, voters, "bad-rule", segments)
    assert_one_line_error(code, err, must_name=must_name)
    assert outputs(setup.home("campaign"), "bad-rule") == []


def test_segments_file_not_utf8(setup: Setup, tmp_path: Path) -> None:
    segments = tmp_path / "segments.toml"
    segments.write_bytes(b'[segments.x]\n# \xff\xfe\nrule = "support_score > 3"\n')
    voters = write_csv(setup.voters, tmp_path / "voters.csv")
    code, err = tokenize(setup, voters, "bad-toml", segments)
    assert_one_line_error(code, err, must_name=("segments.toml", "line 2", "UTF-8"))
    assert outputs(setup.home("campaign"), "bad-toml") == []


def _campaign_message(s: Setup, tmp_path: Path, exchange: str) -> Path:
    voters = write_csv(s.voters, tmp_path / "voters.csv")
    code, err = tokenize(s, voters, exchange)
    assert code == 0, err
    return s.home("campaign") / "outbox" / f"{exchange}.campaign-tokens.nwl"


def test_message_from_another_exchange(setup: Setup, tmp_path: Path) -> None:
    sent = _campaign_message(setup, tmp_path, "exch-a")
    inbox = setup.home("matcher") / "inbox"
    shutil.copyfile(sent, inbox / "exch-b.campaign-tokens.nwl")
    code, _, err = cli("matcher", "link", "--home", setup.home("matcher"), "--exchange", "exch-b")
    assert_one_line_error(code, err, must_name=("exch-b.campaign-tokens.nwl", "exchange id"))
    assert outputs(setup.home("matcher"), "exch-b") == []


def test_truncated_message(setup: Setup, tmp_path: Path) -> None:
    sent = _campaign_message(setup, tmp_path, "exch-t")
    target = setup.home("matcher") / "inbox" / "exch-t.campaign-tokens.nwl"
    target.write_bytes(sent.read_bytes()[:-100])
    code, _, err = cli("matcher", "link", "--home", setup.home("matcher"), "--exchange", "exch-t")
    assert_one_line_error(code, err, must_name=("exch-t.campaign-tokens.nwl", "truncated"))
    assert outputs(setup.home("matcher"), "exch-t") == []


@pytest.mark.slow
def test_real_process_reports_one_line(setup: Setup, tmp_path: Path) -> None:
    path = _string_score(setup, tmp_path)[0]
    code, _, stderr = narwhal(
        "campaign", "tokenize", "--home", setup.home("campaign"), "--voters", path,
        "--segments", setup.segments, "--exchange", "bad-proc", timeout=120,
    )  # fmt: skip
    assert_one_line_error(code, stderr, must_name=("support_score", "row 7"))
    assert outputs(setup.home("campaign"), "bad-proc") == []


# --- fuzzing: arbitrary bytes only ever raise NarwhalError ----------------------------

FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
VOTER_COLUMNS = ("voter_id", "first_name", "last_name", "address", "city", "state", "zip")


def _read_bytes_as(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(data)
        with contextlib.suppress(NarwhalError):
            read_input_table(path, required=VOTER_COLUMNS[:2], unique="voter_id")


def _sample_parquet() -> bytes:
    sink = pa.BufferOutputStream()
    table = pa.table(
        {
            "voter_id": [f"V{i}" for i in range(20)],
            "first_name": ["ann", None, "bo", "cy"] * 5,
            "support_score": pa.array(range(20), pa.int16()),
        }
    )
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


SAMPLE_PARQUET = _sample_parquet()
SAMPLE_CSV = b'voter_id,first_name,support_score\nV1,ann,3\nV2,"b,o",4\nV3,,5\n'


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


@FUZZ
@given(st.one_of(st.binary(max_size=300), mutated(SAMPLE_PARQUET)))
def test_fuzz_parquet_reader(data: bytes) -> None:
    _read_bytes_as(data, ".parquet")


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=300),
        mutated(SAMPLE_CSV),
        st.text(max_size=200).map(lambda t: ("voter_id,first_name\n" + t).encode("utf-8")),
    )
)
def test_fuzz_csv_reader(data: bytes) -> None:
    _read_bytes_as(data, ".csv")


SAMPLE_TOML = b'[segments.a]\ndescription = "x"\nrule = "support_score >= 3 and party in [\'D\']"\n'


@FUZZ
@given(
    st.one_of(st.binary(max_size=300), mutated(SAMPLE_TOML), st.text(max_size=200).map(str.encode))
)
def test_fuzz_segments_reader(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "segments.toml"
        path.write_bytes(data)
        try:
            text = read_text(path)
            load_segments(text, columns={"support_score": "number", "party": "string"}, file="s")
        except NarwhalError:
            pass


CAMPAIGN = generate_identity("c", "campaign")
MATCHER = generate_identity("m", "matcher")
CONTACTS = {CAMPAIGN.fingerprint: CAMPAIGN.card()}
SEALED = seal(
    pa.table({"rid": ["r1", "r2"], "mk_addr": pa.array([b"\x01" * 32, None], pa.binary(32))}),
    kind="campaign-tokens",
    exchange_id="fz-1",
    sender=CAMPAIGN,
    recipient=MATCHER.card(),
)


@FUZZ
@given(st.one_of(st.binary(max_size=400), mutated(SEALED)))
def test_fuzz_envelope(data: bytes) -> None:
    try:
        open_message(
            data, me=MATCHER, contacts=CONTACTS, expected_kind="campaign-tokens",
            expected_exchange="fz-1",
        )  # fmt: skip
    except NarwhalError:
        return
    # Anything that opened must be the untouched original.
    assert data == SEALED


def test_long_field_limit_is_exact(tmp_path: Path) -> None:
    ok = pa.table({"voter_id": ["a", "b"], "first_name": ["x" * MAX_FIELD_CHARS, "y"]})
    pq.write_table(ok, tmp_path / "ok.parquet")
    assert read_input_table(tmp_path / "ok.parquet", required=("voter_id",)).num_rows == 2
    too = ok.set_column(1, "first_name", pa.array(["x", "é" * (MAX_FIELD_CHARS + 1)]))
    pq.write_table(too, tmp_path / "too.parquet")
    with pytest.raises(NarwhalError, match="row 2"):
        read_input_table(tmp_path / "too.parquet", required=("voter_id",))


def test_csv_keeps_zip_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("voter_id,first_name,zip,support_score\nV1,ann,01234,7\nV2,,,8\n")
    table = read_input_table(path, required=("voter_id",))
    assert table["zip"].to_pylist() == ["01234", None]
    assert pc.sum(table["support_score"]).as_py() == 15


@pytest.mark.parametrize("option", ["--segments", "--schema"])
def test_toml_nested_100000_deep(setup: Setup, tmp_path: Path, option: str) -> None:
    # tomllib recurses once per level: this used to end in a RecursionError traceback.
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    files: list[str | Path] = ["--segments", deep if option == "--segments" else setup.segments]
    if option == "--schema":
        files += ["--schema", deep]
    voters = write_csv(setup.voters, tmp_path / "voters.csv")
    code, _, err = cli(
        "campaign", "tokenize", "--home", setup.home("campaign"), "--voters", voters,
        "--exchange", "deep-toml", *files,
    )  # fmt: skip
    assert_one_line_error(code, err, must_name=("deep.toml", "nested too deeply"))
    assert outputs(setup.home("campaign"), "deep-toml") == []
