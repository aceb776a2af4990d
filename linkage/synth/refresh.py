"""The weekly voter-file refresh: the same voters a week on, with scores drifted and a few changes.

A campaign's modelling team re-scores the file every week, and the state's
registration list moves a little: a week's file is the previous week's with
every model score drifted by a small random walk (so some voters cross a
segment rule's threshold; the rules stay the same), about
:data:`REMOVED_RATE` of the voters removed (moved away, died) and about
:data:`NEW_RATE` new registrants added. A new registrant joins an existing
household (a child turned 18, a partner moving in): the household's surname,
address and modelled ethnicity, a given name and sex from another voter, and
scores near the household's. Its ``voter_id`` is fresh, never one used before
in the chunk (removed voters' ids are not reissued), and when the household
subscribes, the truth gains the new voter's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.synth._arrays import IntArray, constant, digit_strings, join, where
from linkage.synth.schemas import VOTER_HOUSEHOLD_SCHEMA, VOTERS_SCHEMA

__all__ = ["NEW_RATE", "REMOVED_RATE", "SCORE_DRIFT", "WeeklyVoters", "refresh_weeks"]

NEW_RATE = 0.005
"""Expected share of a week's file that is newly registered."""
REMOVED_RATE = 0.003
"""Expected share of the previous week's voters removed from the file."""
SCORE_DRIFT = 4.0
"""Standard deviation of a model score's weekly change, in score points."""

_SCORES = ("support_score", "turnout_score", "gotv_score", "persuasion_score")
_ID_PREFIX = "OH"
_ID_DIGITS = 9


@dataclass(frozen=True)
class WeeklyVoters:
    """The refreshed voter files of weeks 2 onwards, and the truth covering every week.

    Attributes:
        weeks: Week 2's voter file, week 3's, ... (``VOTERS_SCHEMA``, sorted by voter_id).
        voter_household: The truth rows of every voter of any week
            (``VOTER_HOUSEHOLD_SCHEMA``, sorted by voter_id).
    """

    weeks: tuple[pa.Table, ...]
    voter_household: pa.Table


def refresh_weeks(
    rng: np.random.Generator,
    voters: pa.Table,
    voter_household: pa.Table,
    weeks: int,
    week_starts: list[date],
    part: tuple[int, int] = (0, 1),
) -> WeeklyVoters:
    """Refresh a chunk's voter file ``weeks - 1`` times, one week after another.

    Args:
        rng: Random stream (the refresh's own).
        voters: Week 1's voter file of the chunk (``VOTERS_SCHEMA``).
        voter_household: The chunk's truth for week 1's voters.
        weeks: Weeks in the world (1 gives no refreshed file).
        week_starts: First day of each week (new registrants turn 18 by then).
        part: The chunk's slice of the voter id range, as the voter file drew it.

    Returns:
        The refreshed files and the truth over every week's voters.
    """
    if weeks <= 1:
        return WeeklyVoters(weeks=(), voter_household=voter_household)
    used = np.sort(_id_numbers(voters["voter_id"]))
    truth = voter_household
    current = voters
    out: list[pa.Table] = []
    for week in range(1, weeks):
        current, new_truth, used = _refresh(rng, current, truth, used, week_starts[week], part)
        truth = pa.concat_tables([truth, new_truth])
        out.append(current)
    return WeeklyVoters(weeks=tuple(out), voter_household=truth.sort_by("voter_id"))


def _id_numbers(voter_id: pa.ChunkedArray | pa.Array) -> IntArray:
    digits = pc.utf8_slice_codeunits(voter_id, len(_ID_PREFIX))
    out: IntArray = np.asarray(pc.cast(digits, pa.int64()), dtype=np.int64)
    return out


def _fresh_ids(rng: np.random.Generator, n: int, used: IntArray, part: tuple[int, int]) -> IntArray:
    """``n`` distinct id numbers in the chunk's slice, none of them in ``used`` (sorted)."""
    index, parts = part
    width = 10**_ID_DIGITS // parts
    out = rng.integers(0, width, size=n, dtype=np.int64) + index * width
    while True:
        _, first = np.unique(out, return_index=True)
        bad = np.ones(n, dtype=bool)
        bad[first] = False
        if len(used):
            at = np.minimum(np.searchsorted(used, out), len(used) - 1)
            bad |= used[at] == out
        if not bad.any():
            done: IntArray = out
            return done
        out[bad] = rng.integers(0, width, size=int(bad.sum()), dtype=np.int64) + index * width


def _refresh(
    rng: np.random.Generator,
    voters: pa.Table,
    truth: pa.Table,
    used: IntArray,
    week_start: date,
    part: tuple[int, int],
) -> tuple[pa.Table, pa.Table, IntArray]:
    """One week on: drifted scores, removals, new registrants; and the new voters' truth."""
    n = voters.num_rows
    columns = {name: voters[name].combine_chunks() for name in VOTERS_SCHEMA.names}
    for name in _SCORES:
        score = np.asarray(columns[name], dtype=np.float64) + rng.normal(0.0, SCORE_DRIFT, n)
        columns[name] = pa.array(np.clip(np.rint(score), 1, 100).astype(np.int16), pa.int16())
    kept = np.flatnonzero(rng.random(n) >= REMOVED_RATE)

    n_new = int(rng.binomial(n, NEW_RATE)) if n else 0
    home = rng.integers(0, n, n_new)  # a voter of the household the registrant joins
    donor = rng.integers(0, n, n_new)  # whose given name and sex the registrant gets
    ids = _fresh_ids(rng, n_new, used, part)
    new = _registrants(rng, voters, home, donor, ids, week_start)

    # The registrant lives where its household's voter does: in its subscribing household, if any.
    home_id = voters["voter_id"].take(pa.array(home))
    household = pc.index_in(home_id, truth["voter_id"])
    covered = np.asarray(pc.is_valid(household), dtype=bool)
    new_truth = pa.table(
        {
            "voter_id": new["voter_id"].filter(pa.array(covered)),
            "household_id": truth["household_id"].take(household.filter(pa.array(covered))),
        },
        schema=VOTER_HOUSEHOLD_SCHEMA,
    )
    # One take keeps, adds and sorts: ids are fixed-width, so number order is voter_id order.
    rows = np.concatenate([kept, n + np.arange(n_new)])
    number = np.concatenate([_id_numbers(columns["voter_id"])[kept], ids])
    both = pa.concat_tables([pa.table(columns, schema=VOTERS_SCHEMA), new])
    week = both.take(pa.array(rows[np.argsort(number, kind="stable")]))
    return week, new_truth, np.sort(np.concatenate([used, ids]))


def _registrants(
    rng: np.random.Generator,
    voters: pa.Table,
    home: IntArray,
    donor: IntArray,
    ids: IntArray,
    week_start: date,
) -> pa.Table:
    """New voters joining the households of ``home`` rows, named after ``donor`` rows."""
    n = len(ids)
    at_home = voters.take(pa.array(home))
    named = voters.take(pa.array(donor))
    # Mostly first-time registrants (18-21); the rest adults moving in, aged like the donor.
    young = rng.random(n) < 0.6
    epoch = (week_start - date(1970, 1, 1)).days
    young_days = epoch - np.rint(365.25 * rng.uniform(18.0, 21.0, n)).astype(np.int64)
    donor_days = np.asarray(pc.cast(named["birth_date"], pa.int32()), dtype=np.int64)
    birth = np.where(young, young_days, donor_days).astype(np.int32)
    same_party = rng.random(n) < 0.7
    keep_phone = rng.random(n) < 0.3
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "voter_id": join([constant(_ID_PREFIX, n), digit_strings(ids, _ID_DIGITS)]),
        "first_name": named["first_name"],
        "middle_name": named["middle_name"],
        "last_name": at_home["last_name"],
        "suffix": pa.nulls(n, pa.string()),
        "birth_date": pa.array(birth, pa.int32()).cast(pa.date32()),
        "gender": named["gender"],
        "address": at_home["address"],
        "city": at_home["city"],
        "state": at_home["state"],
        "zip": at_home["zip"],
        "phone": where(keep_phone, at_home["phone"].combine_chunks(), None),
        "email": pa.nulls(n, pa.string()),
        "ethnicity": at_home["ethnicity"],
        "party": where(
            same_party, at_home["party"].combine_chunks(), named["party"].combine_chunks()
        ),
    }
    for name in _SCORES:
        base = np.asarray(at_home[name], dtype=np.float64) + rng.normal(0.0, 8.0, n)
        columns[name] = pa.array(np.clip(np.rint(base), 1, 100).astype(np.int16), pa.int16())
    return pa.table(columns, schema=VOTERS_SCHEMA)
