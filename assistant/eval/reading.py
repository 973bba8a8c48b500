"""The reading set: documents with questions and claim pairs written for training and
judging the reader.  Loading and validation live here so the tests, training and
evaluation read the set one way.

Layout (``tests/data/reading/``)::

    docs/<slug>.<txt|md|html>        train and dev documents
    docs/<slug>.questions.jsonl      questions about that document
    docs/<slug>.claims.jsonl         claim pairs from that document
    docs/<slug>.meta.json            genre, title, voice, citation apparatus, writer
    sealed/...                       the sealed test split, same shape
    splits.json                      which ``docs/`` slugs are dev (the rest are train)

Validation messages about sealed documents name files, ids and error codes only, never
their text, so that running the validator does not unseal them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "tests" / "data" / "reading"
DOC_SUFFIXES = (".txt", ".md", ".html")

#: How an unanswerable question was made from an answerable one.
UNANSWERABLE_TAGS = (
    "swapped_entity",  # an entity the document names, put where another belongs
    "invented_entity",  # a name the document never mentions
    "changed_number",
    "changed_date",
    "negation",
    "antonym",
    "reversed_relation",  # "What is France a region of?" where Normandy is a region of France
    "missing_attribute",  # an attribute the document never gives of something it names
    "false_premise",
    "outside_knowledge",  # about the topic, but only the world outside the document knows
)
ANSWERABLE_KINDS = (
    "direct",
    "paraphrase",
    "multi",
    "caption",
    "list",
    "table",
    "comment",
    "footnote",
    "heading",
)
SUPPORTED_CLAIM_KINDS = ("verbatim", "paraphrase", "multi", "summary", "inference")
UNSUPPORTED_CLAIM_KINDS = (
    *UNANSWERABLE_TAGS,
    "changed_quantity",
    "overgeneralisation",
    "hedge_removed",
    "wrong_attribution",
)
GENRES = (
    "encyclopedia",
    "news",
    "opinion",
    "abstract",
    "policy",
    "legal",
    "manual",
    "howto",
    "minutes",
    "biography",
    "review",
    "faq",
    "interview",
    "letter",
    "report",
    "press_release",
    "blog",
    "guide",
    "other",
)
MIN_WORDS, MAX_WORDS = 300, 2000
MIN_QUESTIONS_PER_DOC = 30


@dataclass
class ReadingDoc:
    """One document of the reading set with its questions and claim pairs."""

    slug: str
    split: str  # "train", "dev" or "test"
    path: Path
    meta: dict
    questions: list[dict] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)

    @property
    def sealed(self) -> bool:
        return self.split == "test"


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                rows.append({"_error": f"line {n}: bad JSON ({exc.msg})"})
    return rows


def _dev_slugs(root: Path) -> set[str]:
    path = root / "splits.json"
    return set(json.loads(path.read_text())["dev"]) if path.exists() else set()


def load_set(root: Path = ROOT, splits: tuple[str, ...] = ("train", "dev")) -> list[ReadingDoc]:
    """The documents of the asked splits.  ``test`` (the sealed split) only when asked."""
    dev = _dev_slugs(root)
    out = []
    folders = [("docs", s) for s in ("train", "dev") if s in splits]
    if "test" in splits:
        folders.append(("sealed", "test"))
    seen_folders = set()
    for folder, _ in folders:
        if folder in seen_folders:
            continue
        seen_folders.add(folder)
        for path in sorted((root / folder).glob("*")):
            if path.suffix not in DOC_SUFFIXES:
                continue
            slug = path.stem
            split = "test" if folder == "sealed" else ("dev" if slug in dev else "train")
            if split not in splits:
                continue
            meta_path = path.with_name(slug + ".meta.json")
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            out.append(
                ReadingDoc(
                    slug=slug,
                    split=split,
                    path=path,
                    meta=meta,
                    questions=_jsonl(path.with_name(slug + ".questions.jsonl")),
                    claims=_jsonl(path.with_name(slug + ".claims.jsonl")),
                )
            )
    return out


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _sentences_of(text: str) -> set[str]:
    """Normalised long sentences, to catch one document's text reused in another."""
    parts = re.split(r"(?<=[.!?])\s+", text)
    return {n for p in parts if len((n := _norm(p)).split()) >= 8}


def _load_text(doc: ReadingDoc) -> str:
    from index.load import load_document

    return load_document(doc.path).text


def validate(docs: list[ReadingDoc], totals: bool = True, unseal: bool = False) -> list[str]:
    """Every problem found, as lines; empty when the set is sound.  ``unseal`` shows the
    text behind sealed documents' problems (for the one who writes them)."""
    problems: list[str] = []
    seen_questions: dict[str, str] = {}
    ids: set[str] = set()
    texts: dict[str, str] = {}

    def say(doc: ReadingDoc, item_id: str, code: str, detail: str = "") -> None:
        where = f"{doc.split}/{doc.slug}" + (f" {item_id}" if item_id else "")
        problems.append(
            f"{where}: {code}"
            + ("" if (doc.sealed and not unseal) or not detail else f" ({detail})")
        )

    for doc in docs:
        try:
            text = _load_text(doc)
        except Exception as exc:  # a document that does not load is itself the finding
            say(doc, "", "document_does_not_load", str(exc))
            continue
        texts[doc.slug] = text
        words = len(doc.path.read_text(encoding="utf-8").split())
        if doc.path.suffix == ".html":
            words = len(text.split())
        if not MIN_WORDS <= words <= MAX_WORDS:
            say(doc, "", "word_count_out_of_range", f"{words} words")
        if doc.meta.get("genre") not in GENRES:
            say(doc, "", "meta_genre_missing_or_unknown", repr(doc.meta.get("genre")))

        by_id = {q.get("id"): q for q in doc.questions}
        answerable = [q for q in doc.questions if q.get("answerable") is True]
        if len(doc.questions) < MIN_QUESTIONS_PER_DOC:
            say(doc, "", "too_few_questions", str(len(doc.questions)))
        if doc.questions and not 0.4 <= len(answerable) / len(doc.questions) <= 0.6:
            say(doc, "", "questions_unbalanced", f"{len(answerable)}/{len(doc.questions)}")
        for q in doc.questions:
            qid = q.get("id") or "?"
            if "_error" in q:
                say(doc, qid, "bad_json", q["_error"])
                continue
            if qid in ids:
                say(doc, qid, "duplicate_id")
            ids.add(qid)
            if not isinstance(q.get("question"), str) or not q["question"].strip():
                say(doc, qid, "question_missing")
                continue
            key = _norm(q["question"])
            if key in seen_questions:
                say(doc, qid, "duplicate_question", f"same as {seen_questions[key]}")
            seen_questions[key] = qid
            if q.get("answerable") is True:
                ev = q.get("evidence")
                if not ev or not isinstance(ev, list):
                    say(doc, qid, "answerable_without_evidence")
                for span in ev or []:
                    if not isinstance(span, str) or not span or span not in text:
                        say(doc, qid, "evidence_not_verbatim", repr(span))
                if q.get("kind") not in ANSWERABLE_KINDS:
                    say(doc, qid, "answerable_kind_unknown", repr(q.get("kind")))
                if q.get("evidence_mode", "any") not in ("any", "all"):
                    say(doc, qid, "evidence_mode_unknown")
            elif q.get("answerable") is False:
                if q.get("tag") not in UNANSWERABLE_TAGS:
                    say(doc, qid, "unanswerable_tag_missing_or_unknown", repr(q.get("tag")))
                src = by_id.get(q.get("from"))
                if src is None or src.get("answerable") is not True:
                    say(doc, qid, "unanswerable_from_not_an_answerable_id", repr(q.get("from")))
                for span in q.get("near") or []:
                    if span not in text:
                        say(doc, qid, "near_not_verbatim", repr(span))
            else:
                say(doc, qid, "answerable_not_boolean")

        supported = [c for c in doc.claims if c.get("supported") is True]
        if doc.claims and not 0.4 <= len(supported) / len(doc.claims) <= 0.6:
            say(doc, "", "claims_unbalanced", f"{len(supported)}/{len(doc.claims)}")
        if len(doc.claims) < MIN_QUESTIONS_PER_DOC:
            say(doc, "", "too_few_claims", str(len(doc.claims)))
        for c in doc.claims:
            cid = c.get("id") or "?"
            if "_error" in c:
                say(doc, cid, "bad_json", c["_error"])
                continue
            if cid in ids:
                say(doc, cid, "duplicate_id")
            ids.add(cid)
            if not isinstance(c.get("claim"), str) or not c["claim"].strip():
                say(doc, cid, "claim_missing")
            ev = c.get("evidence")
            if not ev or not isinstance(ev, list):
                say(doc, cid, "claim_without_evidence")
            for span in ev or []:
                if not isinstance(span, str) or not span or span not in text:
                    say(doc, cid, "evidence_not_verbatim", repr(span))
            kinds = SUPPORTED_CLAIM_KINDS if c.get("supported") is True else UNSUPPORTED_CLAIM_KINDS
            if not isinstance(c.get("supported"), bool):
                say(doc, cid, "supported_not_boolean")
            elif c.get("kind") not in kinds:
                say(doc, cid, "claim_kind_unknown", repr(c.get("kind")))

    # No sealed document's text may appear in train or dev (nor one document twice).
    sealed = [d for d in docs if d.sealed and d.slug in texts]
    open_docs = [d for d in docs if not d.sealed and d.slug in texts]
    open_sentences: Counter[str] = Counter()
    for d in open_docs:
        open_sentences.update(_sentences_of(texts[d.slug]))
    for d in sealed:
        shared = _sentences_of(texts[d.slug]) & set(open_sentences)
        if shared:
            say(d, "", "sealed_text_in_train", f"{len(shared)} sentences")
    slugs = Counter(d.slug for d in docs)
    for slug, n in slugs.items():
        if n > 1:
            problems.append(f"{slug}: duplicate_slug")

    if totals:
        qs = sum(len(d.questions) for d in docs)
        cs = sum(len(d.claims) for d in docs)
        if len(docs) < 60:
            problems.append(f"set: too_few_documents ({len(docs)} < 60)")
        if qs < 2000:
            problems.append(f"set: too_few_questions ({qs} < 2000)")
        if cs < 2000:
            problems.append(f"set: too_few_claim_pairs ({cs} < 2000)")
        if len(sealed) < 15:
            problems.append(f"set: too_few_sealed_documents ({len(sealed)} < 15)")
        tags = Counter(
            q.get("tag") for d in docs for q in d.questions if q.get("answerable") is False
        )
        for tag in UNANSWERABLE_TAGS:
            if tags[tag] < 20:
                problems.append(f"set: unanswerable tag {tag} has {tags[tag]} questions (< 20)")
    return problems


def summary(docs: list[ReadingDoc]) -> dict:
    """Counts per split: documents, questions (answerable / not), claims (supported / not)."""
    out: dict[str, dict] = {}
    for d in docs:
        s = out.setdefault(
            d.split,
            {"documents": 0, "answerable": 0, "unanswerable": 0, "supported": 0, "unsupported": 0},
        )
        s["documents"] += 1
        s["answerable"] += sum(q.get("answerable") is True for q in d.questions)
        s["unanswerable"] += sum(q.get("answerable") is False for q in d.questions)
        s["supported"] += sum(c.get("supported") is True for c in d.claims)
        s["unsupported"] += sum(c.get("supported") is False for c in d.claims)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m assistant.eval.reading", description=__doc__)
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--slug", action="append", help="check only these documents (any split)")
    ap.add_argument("--no-totals", action="store_true", help="skip the whole-set minimums")
    ap.add_argument("--unseal", action="store_true", help="show sealed documents' text in problems")
    args = ap.parse_args(argv)
    docs = load_set(args.root, ("train", "dev", "test"))
    if args.slug:
        docs = [d for d in docs if d.slug in set(args.slug)]
    problems = validate(docs, totals=not args.no_totals and not args.slug, unseal=args.unseal)
    for line in problems:
        print(line)
    print(json.dumps(summary(docs)))
    print(f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
