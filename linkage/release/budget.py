"""The campaign's privacy budget, in zero-concentrated DP (rho) and as (epsilon, delta).

Every figure that leaves the provider or the matcher for one campaign is a
Gaussian measurement of household counts. Gaussian measurements compose by
adding their rho (zCDP, Bun and Steinke 2016), so one number per campaign
covers every release: each week of a panel, every grain, the match report and
post-buy delivery. The ledger (:mod:`linkage.release.ledger`) adds releases up
against two caps, one per reporting week and one for the campaign's lifetime.

The defaults, and why:

* ``rho`` **0.25 per week** and **2.5 for the lifetime** of a campaign (ten
  weekly releases: Labor Day to election day). The 2020 US Census spent
  rho = 2.63 in total on its person file (redistricting and DHC) for the whole
  country and decade; a campaign's lifetime cap sits just under that, and a
  week's release spends a tenth of it.
* **delta 1e-7**, below one over the number of households in the largest US
  state (about 1.4e7), as is usual practice (delta well below 1/n).
* Stated as (epsilon, delta) by OpenDP's ``make_zCDP_to_approxDP`` (the
  optimal conversion of Canonne, Kamath and Steinke 2020, tighter than the
  textbook ``rho + 2 sqrt(rho ln(1/delta))``): weekly rho 0.25 is epsilon
  3.86 at delta 1e-7, the lifetime cap rho 2.5 is epsilon 14.36.

The unit of privacy is one provider household: all of its viewing in the
period and all of its segment memberships, whatever the number of voter
records that point at it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from linkage.errors import PrivacyError

__all__ = [
    "DEFAULT_DELIVERY_RHO",
    "DEFAULT_DELTA",
    "DEFAULT_RELEASE_RHO",
    "DEFAULT_RETENTION_RHO",
    "DEFAULT_RHO_LIFETIME",
    "DEFAULT_RHO_PER_WEEK",
    "MATCHER_REPORT_RHO",
    "PrivacyBudget",
    "epsilon_of",
]

DEFAULT_RHO_PER_WEEK: Final = 0.25
"""zCDP rho one campaign may spend on releases for one reporting week."""

DEFAULT_RHO_LIFETIME: Final = 2.5
"""zCDP rho one campaign may spend in total (ten weekly releases)."""

DEFAULT_DELTA: Final = 1e-7
"""The delta every (epsilon, delta) statement in Narwhal is made at."""

MATCHER_REPORT_RHO: Final = 0.005
"""zCDP rho of the matcher's global match report, once per exchange (a public constant).

The matcher keeps no ledger: the provider's ledger charges it to the
campaign's budget with the exchange's first release. It buys one Gaussian
measurement of linked households, capped linked records and the model's
posterior sums (:mod:`linkage.release.match_report`)."""

DEFAULT_RETENTION_RHO: Final = 0.01
"""zCDP rho of a panel week's retention figures, charged with that week's release."""

DEFAULT_DELIVERY_RHO: Final = 0.02
"""zCDP rho of a week's post-buy delivery figures."""

DEFAULT_RELEASE_RHO: Final = (
    DEFAULT_RHO_PER_WEEK - MATCHER_REPORT_RHO - DEFAULT_RETENTION_RHO - DEFAULT_DELIVERY_RHO
)
"""zCDP rho of the provider's weekly viewership release (0.215, statewide and markets
together): the week's budget less the matcher's report, a panel's retention and the
post-buy delivery, so a week that has all four spends exactly the weekly cap."""


def epsilon_of(rho: float, delta: float = DEFAULT_DELTA) -> float:
    """The epsilon of a ``rho``-zCDP mechanism at ``delta``, by OpenDP's conversion.

    A Gaussian mechanism of scale ``1 / sqrt(2 rho)`` at sensitivity 1 is
    exactly ``rho``-zCDP; OpenDP maps it to (epsilon, delta). The result is
    never above the textbook bound ``rho + 2 sqrt(rho ln(1/delta))``.

    Raises:
        ValueError: ``rho`` is negative or ``delta`` is not in (0, 1).
    """
    if not (math.isfinite(rho) and rho >= 0):
        raise ValueError("rho must be a finite number >= 0")
    if not 0 < delta < 1:
        raise ValueError("delta must be in (0, 1)")
    if rho == 0:
        return 0.0
    return _opendp_epsilon(rho, delta)


def _opendp_epsilon(rho: float, delta: float) -> float:
    # Submodules, not opendp.prelude (which loads scikit-learn at import).
    from opendp.combinators import make_fix_delta, make_zCDP_to_approxDP
    from opendp.domains import atom_domain, vector_domain
    from opendp.measurements import make_gaussian
    from opendp.metrics import l2_distance
    from opendp.mod import enable_features

    enable_features("contrib")
    space = vector_domain(atom_domain(T=float, nan=False)), l2_distance(T=float)
    gaussian = make_gaussian(*space, scale=1.0 / math.sqrt(2.0 * rho))
    epsilon, _ = make_fix_delta(make_zCDP_to_approxDP(gaussian), delta).map(1.0)  # type: ignore[no-untyped-call]
    textbook = rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))
    return float(min(epsilon, textbook))


@dataclass(frozen=True)
class PrivacyBudget:
    """One campaign's caps, in rho: per reporting week and over its lifetime.

    Attributes:
        rho_per_week: Most rho spent on releases whose period falls in one week.
        rho_lifetime: Most rho spent in total.
        delta: The delta the (epsilon, delta) statements are made at.
    """

    rho_per_week: float = DEFAULT_RHO_PER_WEEK
    rho_lifetime: float = DEFAULT_RHO_LIFETIME
    delta: float = DEFAULT_DELTA

    def __post_init__(self) -> None:
        for name in ("rho_per_week", "rho_lifetime"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise PrivacyError(
                    f"the privacy budget's {name.replace('_', ' ')} must be a positive number",
                    hint=f"the default is {getattr(PrivacyBudget, name)}",
                )
        if self.rho_per_week > self.rho_lifetime:
            raise PrivacyError(
                "the weekly privacy budget is larger than the lifetime budget",
                hint="lower --rho-per-week or raise --rho-lifetime",
            )
        if not 0 < self.delta <= DEFAULT_DELTA:
            raise PrivacyError(
                f"delta must be in (0, {DEFAULT_DELTA:g}]", hint="leave delta at its default"
            )

    def epsilon(self, rho: float) -> float:
        """``rho`` stated as epsilon at this budget's delta."""
        return epsilon_of(rho, self.delta)

    def describe(self) -> str:
        """One line: both caps in rho and in (epsilon, delta)."""
        return (
            f"rho {self.rho_per_week:g}/week (epsilon {self.epsilon(self.rho_per_week):.2f}), "
            f"lifetime rho {self.rho_lifetime:g} (epsilon {self.epsilon(self.rho_lifetime):.2f}) "
            f"at delta {self.delta:g}"
        )
