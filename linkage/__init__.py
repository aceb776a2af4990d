"""Narwhal's library: pure, typed record-linkage and privacy functions.

Nothing in this package prints, reads argv or knows which party runs it; the
roles are :mod:`parties`. The sub-packages follow the data:

* :mod:`linkage.encode` -- raw records to normalised values, then keyed
  tokens, Bloom filters and blocking keys (the safe recipe: ``encode_side``).
* :mod:`linkage.match` -- the matcher: blocking, comparison vectors, the ECM
  model and its threshold, resolution to one household per voter.
* :mod:`linkage.measure` -- viewing logs to audience figures, per segment.
* :mod:`linkage.release` -- what may leave a party: the k rule, minimum
  universe, differencing, differential privacy, the ledger, the match report.
* :mod:`linkage.plan` -- the media plan (rate card, integer program, reach).
* :mod:`linkage.report` -- the campaign's tables, charts and HTML page.

Beside them: :mod:`linkage.protocol` (keys, cards, the envelope format,
replay protection, random references), :mod:`linkage.io` (the only package
that touches files), :mod:`linkage.synth` (the synthetic world and its
truth), :mod:`linkage.audit` (the privacy audit and its attacks), and four
modules every package shares: :mod:`linkage.tables` (markers, defaults and
payload shapes), :mod:`linkage.types` (plug-in protocols),
:mod:`linkage.errors` and :mod:`linkage.engine` (DuckDB or Spark).
:mod:`linkage.hazmat` holds the sharp primitives under every token.
"""

__version__ = "0.1.0"
