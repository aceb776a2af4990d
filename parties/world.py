"""Writing a synthetic world to disk, with its truth files, chunk by chunk.

The world is generated as a :class:`~linkage.synth.WorldStream` and each chunk
is appended to its Parquet files as soon as it exists, so memory depends on
the chunk size, not the world size. Worlds of at most
:data:`~linkage.synth.DEFAULT_CHUNK_VOTERS` voters are one chunk and
identical to :func:`~linkage.synth.generate_world`'s.

The truth viewership (:mod:`linkage.synth.truth`) is computed from the
*true* voter -> household map with nothing suppressed, so the end-to-end
error of a real exchange can be measured cell by cell. The stream counts it
while each chunk is drawn (:meth:`~linkage.synth.WorldStream.truth_viewership`),
so the viewing is never read back; chunks are drawn on every core.

A world longer than a week also gets the voter file refreshed for each later
week (``voters_week2.parquet``, ...), and the truth covers every week's voters.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from linkage.encode import default_workers
from linkage.io import ParquetSink, atomic_write_csv, atomic_write_text
from linkage.synth import (
    DEFAULT_CHUNK_VOTERS,
    MARKETS_SCHEMA,
    SUBSCRIBERS_SCHEMA,
    VIEWING_SCHEMA,
    VOTER_HOUSEHOLD_SCHEMA,
    VOTERS_SCHEMA,
    WorldStream,
    world_period,
    world_weeks,
)
from parties.progress import StepProgress


def make_world(
    root: Path,
    *,
    voters: int,
    days: int,
    seed: int,
    chunk_voters: int = DEFAULT_CHUNK_VOTERS,
    workers: int | None = None,
) -> None:
    """Generate a world chunk by chunk and write it as docs/ARCHITECTURE.md lays it out.

    ``workers`` processes draw the chunks (default: one per core); the world is
    the same whatever their number.
    """
    stream = WorldStream(
        voters=voters,
        days=days,
        seed=seed,
        chunk_voters=chunk_voters,
        workers=default_workers() if workers is None else workers,
    )
    camp, prov, tru = root / "campaign", root / "provider", root / "truth"
    steps = StepProgress("synth")
    stage = "synthesising voters"  # counted in voters; their households and viewing with them
    with (
        steps,
        ParquetSink(camp / "voters.parquet", VOTERS_SCHEMA) as voter_sink,
        ParquetSink(prov / "subscribers.parquet", SUBSCRIBERS_SCHEMA) as sub_sink,
        ParquetSink(prov / "viewing.parquet", VIEWING_SCHEMA) as viewing_sink,
        ParquetSink(prov / "markets.parquet", MARKETS_SCHEMA) as market_sink,
        ParquetSink(tru / "voter_household.parquet", VOTER_HOUSEHOLD_SCHEMA) as vh_sink,
        ExitStack() as weekly,
    ):
        week_sinks = [
            weekly.enter_context(ParquetSink(camp / name, VOTERS_SCHEMA))
            for name in weekly_voter_files(days)
        ]
        done = 0
        steps(stage, done, voters)
        for chunk in stream.chunks():
            voter_sink.write(chunk.voters)
            sub_sink.write(chunk.subscribers)
            viewing_sink.write(chunk.viewing)
            market_sink.write(chunk.markets)
            vh_sink.write(chunk.voter_household)
            for sink, week in zip(week_sinks, chunk.weekly_voters, strict=True):
                sink.write(week)
            done += chunk.voters.num_rows
            steps(stage, done, voters)
    truth = stream.truth_viewership()
    atomic_write_text(camp / "segments.toml", stream.segments_toml)
    atomic_write_csv(camp / "ratecard.csv", stream.ratecard())
    atomic_write_csv(prov / "channels.csv", stream.channels)
    atomic_write_csv(prov / "lineups.csv", stream.lineups)
    # The public grid: the channel list above and the reporting period.
    atomic_write_text(prov / "period.txt", world_period(days) + "\n")
    atomic_write_csv(tru / "viewership.csv", truth)


def weekly_voter_files(days: int) -> list[str]:
    """The refreshed voter files' names, week 2 onwards (none for a world of one week)."""
    return [f"voters_week{week}.parquet" for week in range(2, len(world_weeks(days)) + 1)]


def world_guide(root: Path, *, days: int) -> list[str]:
    """What ``narwhal synth`` prints: each party's input files and its first commands.

    The truth files are the auditor's alone; no party reads them.
    """
    camp, prov, tru = root / "campaign", root / "provider", root / "truth"
    weeks = world_weeks(days)
    refreshed = [
        f"  {f'week {week} voters':<15}{camp / name} ({weeks[week - 1]})"
        for week, name in enumerate(weekly_voter_files(days), start=2)
    ]
    return [
        f"world written to {root}",
        "campaign inputs:",
        f"  voter file     {camp / 'voters.parquet'}"
        + (f" (week 1: {weeks[0]})" if refreshed else ""),
        *refreshed,
        f"  segment rules  {camp / 'segments.toml'}",
        f"  rate card      {camp / 'ratecard.csv'} (per market, channel and daypart)",
        "provider inputs:",
        f"  subscribers    {prov / 'subscribers.parquet'}",
        f"  viewing log    {prov / 'viewing.parquet'}",
        f"  markets        {prov / 'markets.parquet'} (each household's TV market)",
        f"  line-ups       {prov / 'lineups.csv'} (the channels each market carries)",
        f"  channel list   {prov / 'channels.csv'}",
        f"  period         {prov / 'period.txt'} ({world_period(days)})",
        "matcher inputs: none (it receives only the two sides' tokens)",
        f"ground truth (audit only, no party reads it): {tru}",
        "first commands (each party in its own home; then trust each other's card.json):",
        "  narwhal campaign init --home campaign --name my-campaign",
        "  narwhal matcher init --home matcher --name my-matcher",
        "  narwhal provider init --home provider --name my-provider",
        "then the data steps that read these files:",
        f"  narwhal campaign tokenize --home campaign --exchange X1"
        f" --voters {camp / 'voters.parquet'} --segments {camp / 'segments.toml'}",
        f"  narwhal provider tokenize --home provider --exchange X1"
        f" --subscribers {prov / 'subscribers.parquet'}",
    ]
