"""The words and patterns the rules are made of, each defined once: figures (in digits and
in words), years, negations, opposites, quantifiers, hedges, and the words that frame a
question about a document rather than ask for its content.

Retrieval, the offline answerer, the verifier and the audit all read them from here, so a
rule cannot know "forty" in one place and not in another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.text import fold

# -- figures -------------------------------------------------------------------------------

#: A figure in digits: "16 000", "16,000" and "3.5" are one number each; "December 16, 2021"
#: holds two.
NUMBER = re.compile(r"\d{1,3}(?:[,\u00a0 ]\d{3})+(?!\d|,\d)(?:\.\d+)?|\d+(?:\.\d+)?")

#: A year: what a question about "the 2020 election" must find in the text as such.
YEAR = r"(?:1[5-9]|20)\d\d"
YEAR_RE = re.compile(rf"\b{YEAR}\b")

_ONES = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
#: Words that are a figure on their own.
_SINGLE = {"dozen": 12, "once": 1, "twice": 2, "single": 1, "half": 0.5}
#: Plurals that give an order of magnitude, not a figure: "hundreds of arrests".
_VAGUE = {
    "hundreds": "100s", "thousands": "1000s", "millions": "1000000s", "billions": "1000000000s",
    "dozens": "12s",
}  # fmt: skip
#: Every word that can spell a figure (the parser's vocabulary).
NUMBER_WORDS = frozenset([*_ONES, *_TENS, *_SCALES, *_SINGLE, *_VAGUE])
#: Words by which prose gives an amount ("forty", "hundreds", "several", "half"); not the
#: figures a word like "once" or "single" spells in passing.
AMOUNT_WORDS = (NUMBER_WORDS - {"zero", "once", "twice", "single"}) | {"several"}
_AMOUNTS = "|".join(sorted(AMOUNT_WORDS, key=len, reverse=True))
#: A passage that gives an amount: digits, or an amount word.
HAS_FIGURE = re.compile(rf"\d|\b(?:{_AMOUNTS})\b", re.I)
#: One amount word, whole.
AMOUNT_WORD = re.compile(rf"(?:{_AMOUNTS})", re.I)

_TOKEN = re.compile(rf"(?:{NUMBER.pattern})%?|[A-Za-z]+")


def number_key(raw: str) -> str:
    """'16 000', '16,000' and '16000' are one number; '70%' and '70' too."""
    return re.sub(r"[^\d.]", "", raw).rstrip(".")


def numbers_in(text: str) -> set[str]:
    """The figures written in digits: what the index stores and retrieval matches."""
    return {number_key(m.group(0)) for m in NUMBER.finditer(fold(text))} - {""}


def _value(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x)).rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Figure:
    """One figure found in a text: where it is and its value as a canonical string."""

    start: int
    end: int
    value: str


def figures(text: str) -> list[Figure]:
    """Every figure of the text, in digits or in words, as values: "forty" and "40" are both
    40, "two hundred and fifty" is 250, "3 million" and "3,000,000" are 3000000, "hundreds"
    is "100s", and "one of the ..." is no figure.  Offsets index ``fold(text)``, which keeps
    ``text``'s length."""
    folded = fold(text)
    tokens = [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(folded)]
    out: list[Figure] = []
    i = 0
    while i < len(tokens):
        start, end, tok = tokens[i]
        low = tok.lower()
        nxt = tokens[i + 1][2].lower() if i + 1 < len(tokens) else ""
        if tok[0].isdigit():
            raw = number_key(tok)
            if raw and nxt in _SCALES and nxt != "hundred":  # "3 million"
                out.append(Figure(start, tokens[i + 1][1], _value(float(raw) * _SCALES[nxt])))
                i += 2
                continue
            if raw:
                out.append(Figure(start, end, raw))
            i += 1
            continue
        if low in _VAGUE:
            out.append(Figure(start, end, _VAGUE[low]))
            i += 1
            continue
        if low in _SINGLE:
            out.append(Figure(start, end, _value(_SINGLE[low])))
            i += 1
            continue
        # (a scale word alone counts too: "several hundred" is hundreds, not thousands)
        starts_word = low in _ONES or low in _TENS or low in _SCALES
        starts_word = starts_word or (low == "a" and nxt in _SCALES)
        if not starts_word or (low == "one" and nxt == "of"):
            i += 1
            continue
        # A run of number words: "two hundred and fifty thousand", "forty-two", "a dozen".
        total, current, j, last = 0.0, 0.0, i, end
        while j < len(tokens):
            w = tokens[j][2].lower()
            if w == "a" and j == i:
                current = 1
            elif w == "hundred" and j == i:
                current = 100
            elif w in _SCALES and j == i:
                total = _SCALES[w]
            elif w in _ONES:
                current += _ONES[w]
            elif w in _TENS:
                current += _TENS[w]
            elif w == "hundred":
                current = (current or 1) * 100
            elif w in _SCALES:
                total += (current or 1) * _SCALES[w]
                current = 0
            elif w == "dozen":
                current = (current or 1) * 12
            elif w == "and" and j + 1 < len(tokens) and tokens[j + 1][2].lower() in _ONES | _TENS:
                j += 1
                continue
            else:
                break
            last = tokens[j][1]
            j += 1
        if j == i + 1 and low == "a":  # "a" alone is no figure
            i += 1
            continue
        out.append(Figure(start, last, _value(total + current)))
        i = j
    return out


def figure_values(text: str) -> set[str]:
    """The values of every figure in the text (see ``figures``)."""
    return {f.value for f in figures(text)}


# -- polarity, quantity, opposites -----------------------------------------------------------

NEGATIONS = frozenset("not no never none zero without nor neither nobody nothing cannot".split())
#: Quantifiers a claim may not add to its evidence, and those the evidence may word otherwise.
QUANTIFIERS = frozenset(
    "all every always entire entirely only none everyone everything whole completely each "
    "exclusively solely sole most majority totally fully certainly definitely proven proves "
    "proved confirmed exactly precisely undeniably indisputably sure".split()
)
QUANTIFIER_EQUIVALENTS = {
    "always": {"invariably", "constantly", "always"},
    "all": {"all", "every", "each"},
    "every": {"all", "every", "each"},
    "each": {"all", "every", "each"},
    "only": {"only", "solely", "sole", "exclusively"},
}
#: Opposites (as stems) that embeddings rate as near-synonyms.
ANTONYMS = [
    ("support", "oppos"), ("support", "condemn"), ("accept", "reject"), ("acknowledg", "reject"),
    ("acknowledg", "deni"), ("admit", "deni"), ("confirm", "deni"), ("right", "wrong"),
    ("justifi", "wrong"), ("valid", "wrong"), ("true", "fals"), ("increas", "decreas"),
    ("rise", "fall"), ("rais", "lower"), ("win", "lose"), ("won", "lost"), ("agre", "disagre"),
    ("legal", "illeg"), ("success", "failur"), ("befor", "after"), ("earli", "late"),
    ("more", "less"), ("most", "least"), ("higher", "lower"), ("larg", "small"),
    ("alli", "enemi"), ("peac", "violent"), ("allow", "forbid"), ("allow", "ban"),
]  # fmt: skip
#: A negating prefix: "implausible" against "plausible".
NEG_PREFIX = re.compile(r"^(?:un|im|in|il|ir|dis|non)(?=[a-z]{4,})")
#: Units that change a figure's meaning: "two-week" is not "two-month".
UNITS = frozenset(
    "second seconds minute minutes hour hours day days week weeks month months year years "
    "decade decades century centuries percent per cent".split()
)

# -- sourcing ----------------------------------------------------------------------------------

#: Words by which a text signals its own weak sourcing ("some reports", "reportedly").
HEDGES = re.compile(
    r"\b(?:there are (?:some )?(?:reports|estimates|claims|suggestions|indications)"
    r"|some (?:reports?|estimates?|claims?|sources?|observers|analysts|commentators)"
    r"|(?:with )?some placing|plausible claims?"
    r"|(?:it is|it's) (?:said|claimed|alleged|reported|rumou?red)"
    r"|reportedly|allegedly|purportedly|supposedly|rumou?rs?|unconfirmed|unverified"
    r"|(?:is|are|was|were) (?:said|believed|thought|rumou?red) to"
    r"|appeared to|seems? to|may have|might have|could have|possibly|perhaps"
    r"|according to (?:some|unnamed|anonymous)|some say|many believe)\b",
    re.IGNORECASE,
)

# -- questions ---------------------------------------------------------------------------------

QUESTION_WORDS = frozenset(
    """what how who whom whose why when where which whether is are was were do does did can could
    should would will has have had tell explain describe give list name many much kind sort type
    exactly really actually anything something thing things mention mentioned mentions""".split()
)
#: Words that frame a question (or claim) about the document rather than ask for content.
FRAMING = frozenset(
    """article author authors document text writer piece essay post blog page story say says
    said claim claims claimed state states stated assert asserts asserted argue argues argued
    write writes wrote written call calls called describe describes described suggest suggests
    view views opinion opinions stance position think thinks believe believes mean means
    regard regarding concerning happen happened happens talk talks discuss discusses source
    sources cite cites cited quote quotes quoted accord make makes made portray portrays
    characterise characterize characterises characterizes refer refers referred footnote
    footnotes""".split()
)
