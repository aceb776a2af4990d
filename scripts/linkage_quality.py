"""Linkage quality: Narwhal's private path against recordlinkage's non-private baseline.

Runs, in one process and on the same data:

* the **private path**: two tokenizers (``linkage.schema.encode_side``) under
  a linkage key agreed between freshly generated campaign and provider
  identities, then the matcher (``linkage.matching.link_records``) on the
  keyed tokens only;
* the **baseline**: recordlinkage on the plain normalised values, with the
  same blocking passes (unkeyed), Jaro-Winkler >= 0.85 for Dice columns,
  exact agreement elsewhere, its ECM classifier and the same resolution.

Datasets::

    python scripts/linkage_quality.py --dataset febrl4 [--no-ssn]
    python scripts/linkage_quality.py --world WORLD            # narwhal synth output
    python scripts/linkage_quality.py --a A --b B --schema S.toml --truth T
        # T: two columns, ids of side a then side b (their names are the id
        # columns of A and B unless --id-a / --id-b say otherwise)
    python scripts/linkage_quality.py --suite [--runs 3] [--only febrl1,world] [--size 20000]

``--suite`` runs, in one go: FEBRL4 with and without SSN; FEBRL1-3 split
into duplicates (side a) and originals (side b), many-to-one; the synthetic
world at its default and at heavy corruption
(:func:`linkage.synth.corrupt_heavily`); and the hard-shapes person files
(:func:`linkage.synth.hard_shapes`, schema ``hard_shapes``). Each dataset
gets ``--runs`` fresh-key runs; every figure (P, R, F1, the model's
estimated P and R, pair completeness, candidate pairs, seconds) is printed
as its mean, min and max, beside the baseline: recordlinkage's ECM on the
same run's candidate pairs (blocking's plus the exact stage's), in the
clear. Progress goes to stderr; one JSON object to stdout.

Prints one JSON object on stdout: ``precision``, ``recall``, ``f1``,
``candidate_pairs``, ``pair_completeness``, ``seconds`` and ``baseline`` (the
same keys). Details (threshold, model estimates, reduction ratio) go to stderr
as a second JSON object. Exit 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import recordlinkage

from linkage.encode import (
    DEFAULT_DUMMY_RATE,
    LinkageSchema,
    drop_fields,
    dummy_rows,
    encode_side,
    load_schema,
    normalize_side,
    shipped_schema,
)

# The unkeyed values are sharp: imported from their module, never the safe surface.
from linkage.encode.blocking_keys import blocking_values
from linkage.encode.schema import Side
from linkage.engine import DuckDBEngine
from linkage.errors import InputError, NarwhalError
from linkage.io import read_input_table, read_text
from linkage.match import (
    LinkOutcome,
    MatchSettings,
    link_records,
    linkage_quality,
    resolve_many_to_one,
    resolve_one_to_one,
)
from linkage.protocol import LinkageKey, agree_linkage_key, generate_identity

EXCHANGE = "quality-check"
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Problem:
    """Two record files, the schema linking them and the true pairs (row positions)."""

    a: pa.Table
    b: pa.Table
    schema: LinkageSchema
    true_a: IntArray
    true_b: IntArray


def _positions(ids: list[str], universe: list[str], what: str) -> IntArray:
    index = {value: i for i, value in enumerate(universe)}
    missing = sum(1 for v in ids if v not in index)
    if missing:
        raise InputError(f"{missing} truth id(s) are not in {what}", hint="check the id columns")
    return np.asarray([index[v] for v in ids], dtype=np.int64)


def febrl4(no_ssn: bool) -> Problem:
    """FEBRL4 (5000 + 5000 person records, 5000 true pairs), shipped in recordlinkage."""
    from recordlinkage.datasets import load_febrl4

    frame_a, frame_b, links = load_febrl4(return_links=True)
    a = pa.Table.from_pandas(frame_a.reset_index(), preserve_index=False)
    b = pa.Table.from_pandas(frame_b.reset_index(), preserve_index=False)
    schema = shipped_schema("febrl")
    if no_ssn:
        schema = drop_fields(schema, {"ssn"})
    true_a = _positions([x for x, _ in links], a["rec_id"].to_pylist(), "file a")
    true_b = _positions([y for _, y in links], b["rec_id"].to_pylist(), "file b")
    return Problem(a, b, schema, true_a, true_b)


def from_files(a_path: Path, b_path: Path, schema: LinkageSchema, truth_path: Path,
               id_a: str | None, id_b: str | None) -> Problem:  # fmt: skip
    """Two files, a schema and a truth file of id pairs."""
    truth = read_input_table(truth_path, required=())
    if truth.num_columns < 2:
        raise InputError("truth needs two columns (id in a, id in b)", file=str(truth_path))
    col_a, col_b = truth.column_names[0], truth.column_names[1]
    id_a, id_b = id_a or col_a, id_b or col_b
    a = read_input_table(
        a_path,
        required=(id_a, *schema.side_columns("a")),
        unique=id_a,
        kinds=schema.input_kinds("a"),
    )
    b = read_input_table(
        b_path,
        required=(id_b, *schema.side_columns("b")),
        unique=id_b,
        kinds=schema.input_kinds("b"),
    )
    ids_a = [str(x) for x in a[id_a].to_pylist()]
    ids_b = [str(x) for x in b[id_b].to_pylist()]
    true_a = _positions([str(x) for x in truth[col_a].to_pylist()], ids_a, "file a")
    true_b = _positions([str(x) for x in truth[col_b].to_pylist()], ids_b, "file b")
    return Problem(a, b, schema, true_a, true_b)


def _quality(pred_a: IntArray, pred_b: IntArray, problem: Problem) -> dict[str, float]:
    predicted = set(zip(pred_a.tolist(), pred_b.tolist(), strict=True))
    truth = set(zip(problem.true_a.tolist(), problem.true_b.tolist(), strict=True))
    as_str = {(str(x), str(y)) for x, y in predicted}
    return linkage_quality(as_str, {(str(x), str(y)) for x, y in truth})


def private_path(
    problem: Problem, dummy_rate: float = DEFAULT_DUMMY_RATE
) -> tuple[dict[str, object], LinkOutcome]:
    """Tokenize both sides under an agreed key, link on tokens only, score against truth.

    As the real tokenizers do, each side appends ``dummy_rate`` dummy records
    per real row (:func:`linkage.encode.dummy_rows`); links that touch a dummy
    are dropped before scoring, as the provider drops them.
    """
    start = time.perf_counter()
    campaign = generate_identity("quality-campaign", "campaign")
    provider = generate_identity("quality-provider", "provider")
    key_a = agree_linkage_key(campaign, provider.card(), EXCHANGE)
    key_b = agree_linkage_key(provider, campaign.card(), EXCHANGE)
    tokens_a = encode_side(problem.a, problem.schema, "a", key_a)
    tokens_b = encode_side(problem.b, problem.schema, "b", key_b)
    # Record references: row positions as text (the real roles use random ones).
    tokens_a = tokens_a.append_column(
        "rid", pa.array([f"{i:09d}" for i in range(problem.a.num_rows)])
    )
    tokens_b = tokens_b.append_column(
        "hp", pa.array([f"{i:09d}" for i in range(problem.b.num_rows)])
    )
    tokens_a = _with_dummies(tokens_a, "rid", problem.a, problem.schema, "a", key_a, dummy_rate)
    tokens_b = _with_dummies(tokens_b, "hp", problem.b, problem.schema, "b", key_b, dummy_rate)
    with DuckDBEngine() as engine:
        outcome = link_records(
            tokens_a, tokens_b, engine=engine, settings=MatchSettings.from_schema(problem.schema)
        )
    real = [
        len(a) == 9 and a.isdigit() and len(b) == 9 and b.isdigit()
        for a, b in zip(
            outcome.links["rid"].to_pylist(), outcome.links["hp"].to_pylist(), strict=True
        )
    ]
    kept = outcome.links.filter(pa.array(real, pa.bool_()))
    stages = kept["stage"].to_pylist()
    outcome = replace(
        outcome,
        links=kept,
        exact_links=stages.count("exact"),
        fuzzy_links=stages.count("fuzzy"),
        group_links=stages.count("group"),
    )
    pred_a = np.asarray([int(x) for x in outcome.links["rid"].to_pylist()], dtype=np.int64)
    pred_b = np.asarray([int(x) for x in outcome.links["hp"].to_pylist()], dtype=np.int64)
    result: dict[str, object] = dict(_quality(pred_a, pred_b, problem))
    result["candidate_pairs"] = outcome.candidates.count
    # Pairs the matcher considered: blocking's candidates, plus the exact
    # stage's links (many-to-one blocking skips records linked exactly).
    exact = np.asarray(outcome.links["stage"].to_pylist()) == "exact"
    considered = set(
        zip(outcome.candidates.ia.tolist(), outcome.candidates.ib.tolist(), strict=True)
    )
    considered |= set(zip(pred_a[exact].tolist(), pred_b[exact].tolist(), strict=True))
    truth = list(zip(problem.true_a.tolist(), problem.true_b.tolist(), strict=True))
    result["pair_completeness"] = (
        sum(1 for t in truth if t in considered) / len(truth) if truth else 1.0
    )
    result["dummy_rate"] = dummy_rate
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result, outcome


def _with_dummies(
    tokens: pa.Table,
    id_name: str,
    table: pa.Table,
    schema: LinkageSchema,
    side: Side,
    key: LinkageKey,
    rate: float,
) -> pa.Table:
    """``tokens`` followed by the side's dummy rows (real rows keep their positions)."""
    if rate <= 0:
        return tokens
    dummies = dummy_rows(table, tokens.select([id_name]), schema, side, key, rate=rate)
    return pa.concat_tables([tokens, dummies.payload.select(tokens.column_names)])


def _plain_frame(problem: Problem, side: str) -> pd.DataFrame:
    table = problem.a if side == "a" else problem.b
    normalized = normalize_side(table, problem.schema, "a" if side == "a" else "b")
    frame = normalized.to_pandas()
    for spec in problem.schema.blocking:
        values = blocking_values(normalized, spec)
        frame[spec.name] = [None if v is None else v.hex() for v in values]
    for key in problem.schema.match_keys:
        parts = frame[list(key.recipe.fields)]
        joined = parts.fillna("").astype(str).agg("|".join, axis=1)
        frame[key.recipe.name] = joined.where(parts.notna().all(axis=1), None)
    frame.index = pd.RangeIndex(len(frame))
    result: pd.DataFrame = frame
    return result


def baseline(
    problem: Problem, pairs_of: tuple[IntArray, IntArray] | None = None
) -> dict[str, object]:
    """recordlinkage on plain values: same blocking, Jaro-Winkler/exact, ECM, same resolution.

    Args:
        problem: The files, schema and truth.
        pairs_of: Candidate pairs (row positions in a, in b) to classify, like
            for like with the private path's; None: recordlinkage's own
            blocking on the schema's passes (no ``max_block``).
    """
    start = time.perf_counter()
    frame_a, frame_b = _plain_frame(problem, "a"), _plain_frame(problem, "b")
    if pairs_of is None:
        indexer = recordlinkage.Index()
        for block in problem.schema.blocking:
            indexer.block(block.name)
        pairs = indexer.index(frame_a, frame_b)
    else:
        pairs = pd.MultiIndex.from_arrays([pairs_of[0], pairs_of[1]])
    compare = recordlinkage.Compare()
    compared: set[str] = set()
    for spec in problem.schema.compare:
        # The baseline compares each plain column on its own (Jaro-Winkler
        # for the columns of a Dice comparison), as recordlinkage users do.
        if spec.method == "dice":
            for member in (e.name for e in spec.encodings if e.name not in compared):
                compared.add(member)
                compare.string(member, member, method="jarowinkler", threshold=0.85, label=member)
        else:
            compare.exact(spec.column, spec.column, label=spec.column)
    vectors = compare.compute(pairs, frame_a, frame_b)
    classifier = recordlinkage.ECMClassifier(binarize=0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        classifier.fit(vectors)
        posterior = classifier.prob(vectors).to_numpy(dtype=np.float64)
    ia = pairs.get_level_values(0).to_numpy(dtype=np.int64)
    ib = pairs.get_level_values(1).to_numpy(dtype=np.int64)
    tie = vectors.to_numpy(dtype=np.float64).sum(axis=1)
    if problem.schema.resolution.mode == "one_to_one":
        chosen = resolve_one_to_one(ia, ib, posterior, tie)
    else:
        chosen, _ = resolve_many_to_one(ia, ib, posterior, tie)
    chosen = chosen[posterior[chosen] >= 0.5]
    result: dict[str, object] = dict(_quality(ia[chosen], ib[chosen], problem))
    result["candidate_pairs"] = len(pairs)
    have = set(zip(ia.tolist(), ib.tolist(), strict=True))
    truth = list(zip(problem.true_a.tolist(), problem.true_b.tolist(), strict=True))
    result["pair_completeness"] = sum(1 for t in truth if t in have) / len(truth) if truth else 1.0
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


SUITE: Final = (
    "febrl4",
    "febrl4_no_ssn",
    "febrl1",
    "febrl2",
    "febrl3",
    "world",
    "world_heavy",
    "hard_shapes",
    "hard_shapes_guide",
)
"""The suite's datasets, in the order they run."""

SUITE_SIZE: Final = 20_000
"""Records on side a of each generated dataset (world voters, hard-shape people)."""


def febrl_split(number: int) -> Problem:
    """FEBRL1-3 split into originals (side b) and duplicates (side a).

    An original may have several duplicates (FEBRL2 and 3: up to five), so
    the link is many duplicates to one original: ``febrl.toml`` with
    ``many_to_one`` resolution. Truth: every ``rec-N-dup-M`` with its ``rec-N-org``.
    """
    from recordlinkage import datasets

    loaders = {1: datasets.load_febrl1, 2: datasets.load_febrl2, 3: datasets.load_febrl3}
    frame = loaders[number]().reset_index()
    original = frame["rec_id"].str.endswith("-org")
    dups = pa.Table.from_pandas(frame[~original].reset_index(drop=True), preserve_index=False)
    orgs = pa.Table.from_pandas(frame[original].reset_index(drop=True), preserve_index=False)
    schema = shipped_schema("febrl")
    schema = replace(schema, resolution=replace(schema.resolution, mode="many_to_one"))
    dup_ids = [str(x) for x in dups["rec_id"].to_pylist()]
    org_of = [x.split("-dup-")[0] + "-org" for x in dup_ids]
    true_b = _positions(org_of, [str(x) for x in orgs["rec_id"].to_pylist()], "the originals")
    true_a = np.arange(len(dup_ids), dtype=np.int64)
    return Problem(dups, orgs, schema, true_a, true_b)


def world_problem(voters: int, seed: int = 0, heavy: bool = False) -> Problem:
    """A synthetic world of ``voters`` voters (one day of viewing), optionally heavily corrupted."""
    from linkage.synth import corrupt_heavily, generate_world

    world = generate_world(voters=voters, days=1, seed=seed)
    subscribers = corrupt_heavily(world.subscribers, seed) if heavy else world.subscribers
    truth = world.voter_household
    return Problem(
        world.voters,
        subscribers,
        shipped_schema("voters_subscribers"),
        _positions(truth["voter_id"].to_pylist(), world.voters["voter_id"].to_pylist(), "a"),
        _positions(truth["household_id"].to_pylist(), subscribers["household_id"].to_pylist(), "b"),
    )


def hard_shapes_problem(people: int, seed: int = 0) -> Problem:
    """The hard-shapes person files (:func:`linkage.synth.hard_shapes`) and their schema."""
    from linkage.synth import HARD_SHAPES_SCHEMA, hard_shapes

    files = hard_shapes(people=people, seed=seed)
    return Problem(
        files.a,
        files.b,
        shipped_schema(HARD_SHAPES_SCHEMA),
        _positions(files.truth["id_a"].to_pylist(), files.a["person_id"].to_pylist(), "a"),
        _positions(files.truth["id_b"].to_pylist(), files.b["person_id"].to_pylist(), "b"),
    )


def suite_problem(name: str, size: int = SUITE_SIZE) -> tuple[Problem, str | None]:
    """One suite dataset by name, and a note when it is a sample of something larger."""
    if name in ("febrl4", "febrl4_no_ssn"):
        return febrl4(no_ssn=name == "febrl4_no_ssn"), None
    if name in ("febrl1", "febrl2", "febrl3"):
        return febrl_split(int(name[-1])), None
    if name in ("world", "world_heavy"):
        note = f"synthetic world of {size} voters (narwhal synth's default is 50000)"
        return world_problem(size, heavy=name == "world_heavy"), note
    if name == "hard_shapes":
        return hard_shapes_problem(size), f"{size} people on side a"
    if name == "hard_shapes_guide":
        problem = hard_shapes_problem(size)
        return replace(problem, schema=shipped_schema("census_people")), (
            f"{size} people on side a; schema: docs/SCHEMA.md's census-style example "
            "(census_people), default blocking"
        )
    raise InputError(f"no suite dataset named {name!r}", hint=f"one of {', '.join(SUITE)}")


def _considered(outcome: LinkOutcome, problem: Problem) -> tuple[IntArray, IntArray]:
    """The real-record pairs the matcher scored: candidates plus exact-stage links."""
    cand = outcome.candidates
    real = (cand.ia < problem.a.num_rows) & (cand.ib < problem.b.num_rows)
    exact = outcome.links.filter(pc.equal(outcome.links["stage"], "exact"))
    pairs = set(zip(cand.ia[real].tolist(), cand.ib[real].tolist(), strict=True))
    pairs |= {
        (int(x), int(y))
        for x, y in zip(exact["rid"].to_pylist(), exact["hp"].to_pylist(), strict=True)
    }
    ordered = sorted(pairs)
    return (
        np.asarray([x for x, _ in ordered], dtype=np.int64),
        np.asarray([y for _, y in ordered], dtype=np.int64),
    )


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(float(np.mean(values)), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


_FIGURES: Final = ("precision", "recall", "f1", "pair_completeness", "candidate_pairs", "seconds")


def measure(
    problem: Problem, runs: int, dummy_rate: float = DEFAULT_DUMMY_RATE, label: str = ""
) -> dict[str, object]:
    """``runs`` fresh-key runs of the private path, each with the baseline on its candidates.

    Returns:
        Each figure (private: also the model's ``est_precision`` and
        ``est_recall``) as ``{"mean", "min", "max"}`` over the runs.
    """
    private: dict[str, list[float]] = {k: [] for k in (*_FIGURES, "est_precision", "est_recall")}
    plain: dict[str, list[float]] = {k: [] for k in _FIGURES}
    for run in range(runs):
        sys.stderr.write(f"suite: {label} run {run + 1}/{runs}\n")
        result, outcome = private_path(problem, dummy_rate)
        result["est_precision"] = outcome.est_precision
        result["est_recall"] = outcome.est_recall
        for key, values in private.items():
            values.append(float(cast(float, result[key])))
        base = baseline(problem, _considered(outcome, problem))
        for key, values in plain.items():
            values.append(float(cast(float, base[key])))
    figures: dict[str, object] = {k: _spread(v) for k, v in private.items()}
    figures["baseline"] = {k: _spread(v) for k, v in plain.items()}
    return figures


def with_term_frequencies(schema: LinkageSchema) -> LinkageSchema:
    """``schema`` with term-frequency weighting on every comparison (to measure what it buys)."""
    return replace(schema, compare=tuple(replace(c, term_frequency=True) for c in schema.compare))


def run_suite(
    names: tuple[str, ...] = SUITE,
    runs: int = 3,
    size: int = SUITE_SIZE,
    dummy_rate: float = DEFAULT_DUMMY_RATE,
    term_frequencies: bool = False,
) -> dict[str, object]:
    """The benchmark suite: every named dataset measured by :func:`measure`, in one object."""
    start = time.perf_counter()
    datasets: dict[str, object] = {}
    for name in names:
        sys.stderr.write(f"suite: building {name}\n")
        problem, note = suite_problem(name, size)
        if term_frequencies:
            problem = replace(problem, schema=with_term_frequencies(problem.schema))
        entry: dict[str, object] = {
            "records_a": problem.a.num_rows,
            "records_b": problem.b.num_rows,
            "true_pairs": len(problem.true_a),
            "resolution": problem.schema.resolution.mode,
        }
        if note is not None:
            entry["note"] = note
        entry.update(measure(problem, runs, dummy_rate, label=name))
        datasets[name] = entry
    return {
        "runs": runs,
        "dummy_rate": dummy_rate,
        "term_frequencies": term_frequencies,
        "figures": "mean, min and max over fresh-key runs; the baseline is recordlinkage's "
        "ECM on each run's candidate pairs, in the clear",
        "candidate_pairs": "private: blocking's output, dummy records included (under "
        "many_to_one, records the exact stage linked are not blocked); baseline: the real "
        "pairs the matcher scored (blocking's plus the exact stage's links)",
        "datasets": datasets,
        "seconds": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["febrl4"])
    parser.add_argument("--no-ssn", action="store_true", help="FEBRL4 without soc_sec_id")
    parser.add_argument("--world", type=Path, help="a `narwhal synth` world directory")
    parser.add_argument("--a", type=Path)
    parser.add_argument("--b", type=Path)
    parser.add_argument("--schema", type=Path)
    parser.add_argument("--truth", type=Path)
    parser.add_argument("--id-a")
    parser.add_argument("--id-b")
    parser.add_argument(
        "--hardening",
        choices=["none", "xor_fold", "balance"],
        help="override the schema's Bloom-filter hardening (to measure its quality cost)",
    )
    parser.add_argument(
        "--dummy-rate",
        type=float,
        default=DEFAULT_DUMMY_RATE,
        help=f"dummy records per real row on each side, as the tokenizers add "
        f"(default {DEFAULT_DUMMY_RATE}; 0 for none)",
    )
    parser.add_argument(
        "--term-frequencies",
        action="store_true",
        help="weight every comparison's full agreement by its value's frequency "
        "(term_frequency = true on each [compare] entry), to measure what it buys",
    )
    parser.add_argument(
        "--suite", action="store_true", help="run the benchmark suite; print one JSON object"
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="fresh-key runs per suite dataset (default 3)"
    )
    parser.add_argument(
        "--only", help=f"comma-separated suite datasets (default all: {', '.join(SUITE)})"
    )
    parser.add_argument(
        "--size",
        type=int,
        default=SUITE_SIZE,
        help=f"side-a records of the suite's generated datasets (default {SUITE_SIZE})",
    )
    args = parser.parse_args(argv)
    if args.suite:
        names = SUITE if args.only is None else tuple(args.only.split(","))
        if args.runs < 1 or args.size < 1 or not set(names) <= set(SUITE):
            parser.error(f"--runs and --size are >= 1; --only names from {', '.join(SUITE)}")
        try:
            report = run_suite(names, args.runs, args.size, args.dummy_rate, args.term_frequencies)
        except NarwhalError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return exc.exit_code
        print(json.dumps(report, indent=1))
        return 0
    try:
        if args.dataset == "febrl4":
            problem = febrl4(args.no_ssn)
        elif args.world is not None:
            w = args.world
            problem = from_files(
                w / "campaign/voters.parquet",
                w / "provider/subscribers.parquet",
                shipped_schema("voters_subscribers"),
                w / "truth/voter_household.parquet",
                None,
                None,
            )
        elif None not in (args.a, args.b, args.schema, args.truth):
            schema = load_schema(read_text(args.schema), file=str(args.schema))
            problem = from_files(args.a, args.b, schema, args.truth, args.id_a, args.id_b)
        else:
            parser.error("give --dataset febrl4, --world DIR, or --a --b --schema --truth")
        if args.hardening is not None:
            problem = replace(problem, schema=replace(problem.schema, hardening=args.hardening))
        if args.term_frequencies:
            problem = replace(problem, schema=with_term_frequencies(problem.schema))
        private, outcome = private_path(problem, args.dummy_rate)
        private["baseline"] = baseline(problem)
    except NarwhalError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    print(json.dumps(private))
    details = {
        "threshold": outcome.threshold,
        "estimated_precision": outcome.est_precision,
        "estimated_recall": outcome.est_recall,
        "reduction_ratio": outcome.candidates.reduction_ratio,
        "dropped_blocks": outcome.candidates.dropped_blocks,
        "links": {
            "exact": outcome.exact_links,
            "fuzzy": outcome.fuzzy_links,
            "group": outcome.group_links,
        },
    }
    sys.stderr.write(json.dumps(details) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
