"""The claim model: a logistic regression over what the verifier's exact checks find.

Measured on the reading set's dev split (``python -m assistant.train_reader``): the
cross-encoder's claim input form stayed near chance (dev AUC 0.58-0.62 after 3-8 epochs),
while the hand-written claim rules reached precision 0.78 at recall 0.57.  A model
trained on the rules' own findings (which figures, names, polarity words and quantifiers
the evidence lacks, how much of the claim's wording it covers, in what order) does
better than either, so that is what ships: its weights are a small JSON file beside the
reader (``claims.json``), read with numpy, no runtime beyond it.

The exact checks stay guards that can only lower support: their features' weights are
held at or below zero when it is trained, so a guard that fires never raises a claim's
probability.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.lexicon import HEDGES, NEGATIONS
from index.text import stem

if TYPE_CHECKING:
    from assistant.verify import ClaimSignals

#: Feature names, in order.  The first five are the guards (weights held at or below 0).
FEATURES = (
    "numbers_missing",
    "number_misbound",
    "names_missing",
    "polarity_flipped",
    "quantifier_overreach",
    "evidence_hedged",
    "restates",
    "log_content_words",
    "share_words_unmatched",
    "share_words_uncovered",
    "min_word_similarity",
    "mean_word_similarity",
    "initials_missing",
    "strict_words_missing",
    "rules_support",
    "share_bigrams_found",
    "share_order_inverted",
    "length_ratio",
    "claim_negations",
    "evidence_negations",
    "claim_hedges",
    "quotes_hedge",
    "words_unmatched",
    "words_uncovered",
)
GUARD_FEATURES = 5
FILE = "claims.json"


def features(
    sig: ClaimSignals,
    claim_tokens: list[str],
    quote_tokens: list[str],
    context_tokens: list[str],
    claim: str,
    quotes: str,
    rules_support: bool,
) -> np.ndarray:
    """One claim's feature vector (``*_tokens``: the verifier's polarity tokens)."""
    n = max(1, len(sig.content))
    sims = sig.similarities
    c_stems = [stem(w) for w in claim_tokens]
    e_stems = [stem(w) for w in context_tokens]
    e_bigrams = set(itertools.pairwise(e_stems))
    c_bigrams = list(itertools.pairwise(c_stems))
    first: dict[str, int] = {}
    for i, w in enumerate(e_stems):
        first.setdefault(w, i)
    at = [first[w] for w in c_stems if w in first]
    inverted = sum(1 for i in range(len(at)) for j in range(i + 1, len(at)) if at[i] > at[j])
    pairs = max(1, len(at) * (len(at) - 1) // 2)
    row = [
        bool(sig.missing_numbers),
        bool(sig.misbound),
        len(sig.unmatched_names),
        len(sig.flipped),
        len(sig.overreach),
        sig.hedged,
        sig.restates,
        np.log1p(len(sig.content)),
        len(sig.exact_gaps) / n,
        len(sig.uncovered) / n,
        min(sims) if sims else 1.0,
        float(np.mean(sims)) if sims else 1.0,
        len(sig.initial_gaps),
        len(sig.strict),
        rules_support,
        sum(b in e_bigrams for b in c_bigrams) / max(1, len(c_bigrams)),
        inverted / pairs,
        len(claim_tokens) / max(1, len(quote_tokens)),
        sum(t in NEGATIONS for t in claim_tokens),
        sum(t in NEGATIONS for t in quote_tokens),
        bool(HEDGES.search(claim)),
        bool(HEDGES.search(quotes)),
        len(sig.exact_gaps),
        len(sig.uncovered),
    ]
    return np.asarray(row, dtype=np.float64)


@dataclass(frozen=True)
class ClaimModel:
    """Standardise, weigh, squash: probability that the evidence supports the claim."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float

    def probability(self, x: np.ndarray) -> float:
        z = float(((x - self.mean) / self.scale) @ self.weights + self.bias)
        return float(1.0 / (1.0 + np.exp(-z)))

    @classmethod
    def load(cls, folder: Path) -> ClaimModel:
        data = json.loads((folder / FILE).read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise ValueError("claims.json was trained on other features")
        return cls(
            np.asarray(data["mean"]),
            np.asarray(data["scale"]),
            np.asarray(data["weights"]),
            float(data["bias"]),
            float(data["threshold"]),
        )

    def to_json(self, figures: dict) -> str:
        return json.dumps(
            {
                "features": list(FEATURES),
                "mean": self.mean.round(6).tolist(),
                "scale": self.scale.round(6).tolist(),
                "weights": self.weights.round(6).tolist(),
                "bias": round(self.bias, 6),
                "threshold": self.threshold,
                **figures,
            },
            indent=1,
        )


def fit(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> ClaimModel:
    """Logistic regression (scikit-learn, at training time only); guard weights that come
    out positive are set to zero and the rest refitted, so a guard can only lower support."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    keep = np.ones(len(FEATURES), dtype=bool)
    for _ in range(GUARD_FEATURES + 1):
        model = LogisticRegression(C=c, max_iter=5000).fit(z[:, keep], y)
        weights = np.zeros(len(FEATURES))
        weights[keep] = model.coef_[0]
        positive = [i for i in range(GUARD_FEATURES) if weights[i] > 0]
        if not positive:
            break
        keep[positive] = False
    return ClaimModel(mean, scale, weights, float(model.intercept_[0]), 0.5)
