"""The claim checker's finer rules, each with the case it must reject and one it must keep."""

from __future__ import annotations

import pytest
from harness import known_misses

from assistant import Assistant
from assistant.types import Draft, DraftClaim
from assistant.verify import Verifier
from index.settings import Settings

KALETAEV = (
    "According to the Kazakh Minister of Social Development Darkhan Kaletaev, he is aware of 53 "
    "international organisations, 30 foreign government organisations, and 77 foreign NGOs "
    "operating in his country – with 70% of the funding for these bodies flowing in from the "
    "USA.[3]"
)
NAME = (
    "The name designates ultra-reactionary regime change operations usually directed against the "
    "former Soviet Republics, but they have also been used in Asia, Africa and Latin America."
)
WARNING = (
    "the US Embassy was already warning about mass “protests” in Kazakhstan on December 16, 2021"
)
RIOTS = "Government buildings were stormed and assaulted in several cities"
CONDEMN = (
    "we condemn and oppose ultra-violent regime change operations which are squarely aimed at "
    "the Russian Federation"
)
PLAUSIBLE = "Plausible claims say that NEXTA is explicitly instigating violence in Kazakhstan"


RULE_CASES = [
    # a figure must count what the claim says it counts
    ("Kaletaev knows of 77 foreign NGOs in his country.", KALETAEV, True),
    ("Kaletaev knows of 77 international organisations in his country.", KALETAEV, False),
    # ...and not across a comma: "53 international organisations, 30 foreign…"
    ("Kaletaev knows of 53 foreign NGOs in his country.", KALETAEV, False),
    # opposites that embeddings call similar
    ("The author supports ultra-violent regime change operations.", CONDEMN, False),
    ("The author condemns ultra-violent regime change operations.", CONDEMN, True),
    ("The article calls the claims about NEXTA implausible.", PLAUSIBLE, False),
    # a year is a date, not a count
    ("The embassy warned of protests on December 16, 2021 already.", WARNING, True),
    # "not only X" asserts X; it does not overreach
    ("The article says they were used in Asia, not only against Soviet Republics.", NAME, True),
    # what a footnote's source says is beyond the document
    ("Footnote [9] links to a police report on the storming.", RIOTS, False),
]


@pytest.mark.parametrize(("claim", "evidence", "supported"), RULE_CASES)
def test_rule(bot: Assistant, claim: str, evidence: str, supported: bool) -> None:
    """The hand-written claim rules (``verification.method = "rules"``)."""
    draft = Draft("answered", [DraftClaim(claim, [evidence])], backend="scripted")
    verifier = Verifier(Settings().replace(verification={"method": "rules"}), bot.similarity)
    answer = verifier.verify(draft, "?", [bot.document])
    assert answer.claims[0].supported is supported, answer.claims[0].reason


#: What the claim model (the default) gets wrong of the cases above: kept visible, and
#: strict, so a model that gets them right shows up.
MODEL_MISSES = {"Footnote [9] links to a police report on the storming."}


@pytest.mark.parametrize(
    ("claim", "evidence", "supported"),
    known_misses(RULE_CASES, MODEL_MISSES, "claim model misses it", key=lambda c: c[0]),
)
def test_rule_with_the_claim_model(bot: Assistant, claim, evidence, supported) -> None:
    draft = Draft("answered", [DraftClaim(claim, [evidence])], backend="scripted")
    answer = bot.verify(draft, "?")
    assert answer.claims[0].supported is supported, answer.claims[0].reason


def test_the_sentence_before_backs_an_anaphor(bot: Assistant) -> None:
    """'The name designates…' is about colour revolutions, named in the sentence before."""
    claim = (
        "The author says colour revolutions are usually directed against former Soviet Republics."
    )
    quote = (
        "The name designates ultra-reactionary regime change operations usually directed against"
    )
    draft = Draft("answered", [DraftClaim(claim, [quote])], backend="scripted")
    assert bot.verify(draft, "?").claims[0].supported
    bare = bot.verifier.checker.check(claim, [quote])  # without the document's context
    assert not bare.supported
