"""The operator's subscriber file: which households subscribe, and how the operator has them.

About 60% of households subscribe (older ones more often). For each, the
operator holds one account holder's name, spelled its own way (nicknames,
typos, a billing system in capitals), an address that is sometimes where the
household lived before, printed in the operator's style (expanded words,
``#`` units, units dropped), and fewer and partly different phones and
e-mails. Every rate here is a knob of how hard the linkage is.

:func:`voter_household` is the truth this draw leaves behind: which voters
live in which subscribing household.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.synth._arrays import (
    IntArray,
    constant,
    digit_strings,
    draw,
    int_strings,
    join,
    take,
    unique_ints,
    where,
)
from linkage.synth.corruption import apply_typos, swap_nicknames
from linkage.synth.population import (
    STATE,
    Address,
    Households,
    People,
    draw_addresses,
    draw_emails,
    format_address,
    format_phone,
)
from linkage.synth.reference import Reference
from linkage.synth.schemas import SUBSCRIBERS_SCHEMA, VOTER_HOUSEHOLD_SCHEMA

__all__ = ["Subscribers", "draw_subscribers", "voter_household"]


@dataclass(frozen=True)
class Subscribers:
    """The subscribing households and the operator's file of them."""

    hh: IntArray  # household index of each subscriber row
    household_id: pa.Array  # per subscriber row
    table: pa.Table


def draw_subscribers(
    rng: np.random.Generator,
    hh: Households,
    people: People,
    ref: Reference,
    part: tuple[int, int] = (0, 1),
) -> Subscribers:
    """Choose the subscribing households and write the operator's file of them."""
    mean_age = np.bincount(people.hh, weights=people.age, minlength=hh.n) / hh.size
    p_sub = np.clip(0.6 + 0.004 * (mean_age - 50.0), 0.3, 0.9)
    sub_hh = np.flatnonzero(rng.random(hh.n) < p_sub)
    m = len(sub_hh)

    household_id = join(
        [
            constant("HH", m),
            digit_strings(unique_ints(rng, m, 16**10, part), 10, 16),
        ]
    )
    account = digit_strings(unique_ints(rng, m, 9 * 10**11, part) + 10**11, 12)

    anyone = np.floor(rng.random(m) * hh.size[sub_hh]).astype(np.int64)
    pick = np.where(rng.random(m) < 0.7, 0, anyone)
    holder = hh.offset[sub_hh] + pick

    first = take(people.first_name, holder)
    first = swap_nicknames(rng, people.given_idx[holder], first, ref, 0.10)
    first = apply_typos(rng, first, 0.04)
    last = apply_typos(rng, take(people.last_name, holder), 0.04)

    # Stale addresses: the operator still has where the household lived before.
    a = hh.address
    sub_addr = Address(
        house=a.house[sub_hh],
        predir=a.predir[sub_hh],
        street=a.street[sub_hh],
        suffix=a.suffix[sub_hh],
        unit_kind=a.unit_kind[sub_hh],
        unit_id=take(a.unit_id, sub_hh),
        city=a.city[sub_hh],
        zip5=take(a.zip5, sub_hh),
        zip4=take(a.zip4, sub_hh),
    )
    stale = rng.random(m) < 0.03
    if stale.any():
        idx = np.flatnonzero(stale)
        moved_city = np.where(
            rng.random(len(idx)) < 0.6,
            sub_addr.city[idx],
            draw(rng, ref.city_weight.sum(axis=0), len(idx)),
        )
        old = draw_addresses(rng, moved_city, ref, avoid_street=sub_addr.street[idx])
        pos = np.full(m, -1)
        pos[idx] = np.arange(len(idx))
        src = np.maximum(pos, 0)

        def merge_int(cur: IntArray, new: IntArray) -> IntArray:
            return np.where(stale, new[src], cur)

        def merge_str(cur: pa.Array, new: pa.Array) -> pa.Array:
            return where(stale, take(new, src), cur)

        sub_addr = Address(
            house=merge_int(sub_addr.house, old.house),
            predir=merge_int(sub_addr.predir, old.predir),
            street=merge_int(sub_addr.street, old.street),
            suffix=merge_int(sub_addr.suffix, old.suffix),
            unit_kind=merge_int(sub_addr.unit_kind, old.unit_kind),
            unit_id=merge_str(sub_addr.unit_id, old.unit_id),
            city=merge_int(sub_addr.city, old.city),
            zip5=merge_str(sub_addr.zip5, old.zip5),
            zip4=merge_str(sub_addr.zip4, old.zip4),
        )

    alt = rng.random(m) < 0.30
    keep_unit = rng.random(m) >= 0.20
    address = format_address(rng, sub_addr, ref, alt, keep_unit)
    billing_upper = rng.random(m) < 0.25
    address = where(billing_upper, pc.utf8_upper(address), address)
    first = where(billing_upper, pc.utf8_upper(first), first)
    last = where(billing_upper, pc.utf8_upper(last), last)
    city = take(ref.city_names, sub_addr.city)
    city = where(billing_upper | (rng.random(m) < 0.1), pc.utf8_upper(city), city)
    zip_code = where(rng.random(m) < 0.30, join([sub_addr.zip5, sub_addr.zip4], "-"), sub_addr.zip5)

    # Contact fields: operators hold fewer, and some are different (new) ones.
    phone_digits = take(people.phone_digits, holder)
    has = np.asarray(pc.is_valid(phone_digits), dtype=bool)
    fresh = join(
        [
            int_strings(hh.area_code[sub_hh]),
            int_strings(rng.integers(201, 1000, m)),
            digit_strings(rng.integers(0, 10_000, m), 4),
        ]
    )
    phone_digits = where(has & (rng.random(m) < 0.72), phone_digits, None)
    phone_digits = where(~has & (rng.random(m) < 0.15), fresh, phone_digits)
    phone = format_phone(rng, phone_digits, np.array([15.0, 30.0, 20.0, 15.0, 12.0, 8.0]))

    email = take(people.email, holder)
    has = np.asarray(pc.is_valid(email), dtype=bool)
    email = where(has & (rng.random(m) < 0.65), email, None)
    r = rng.random(m)
    email = where(r < 0.08, pc.utf8_upper(email), where(r < 0.18, pc.utf8_title(email), email))
    other_email = draw_emails(
        rng, take(people.first_name, holder), take(people.last_name, holder),
        people.birth_days[holder],
    )  # fmt: skip
    email = where(~has & (rng.random(m) < 0.10), other_email, email)

    table = pa.table(
        {
            "household_id": household_id,
            "account_number": account,
            "first_name": first,
            "last_name": last,
            "address": address,
            "city": city,
            "state": constant(STATE, m),
            "zip": zip_code,
            "phone": phone,
            "email": email,
        },
        schema=SUBSCRIBERS_SCHEMA,
    )
    return Subscribers(hh=sub_hh, household_id=household_id, table=table)


def voter_household(
    hh: Households, people: People, subs: Subscribers, voter_id: pa.Array
) -> pa.Table:
    """Truth: each voter of a subscribing household and its ``household_id``."""
    sub_pos = np.full(hh.n, -1, dtype=np.int64)
    sub_pos[subs.hh] = np.arange(len(subs.hh))
    voter_sub = sub_pos[people.hh]
    covered = np.flatnonzero(voter_sub >= 0)
    table = pa.table(
        {
            "voter_id": take(voter_id, covered),
            "household_id": take(subs.household_id, voter_sub[covered]),
        },
        schema=VOTER_HOUSEHOLD_SCHEMA,
    )
    return table.sort_by("voter_id")
