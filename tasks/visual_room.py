"""Visual Room: multimodal sarcasm in two tiers (perception, then cognition) on image-text and video-text posts.

There is no public release, so harness defines the format: a JSONL file, one line per post.

    {"id": "p1", "image": "media/p1.png",            # or "video": "media/p1.mp4" (exactly one of the two)
     "text": "Perfect day for a picnic!",             # the post's own text
     "perception": [                                  # tier 1: what is visibly there (at least one question)
        {"question": "What is the weather like?", "choices": ["sunny", "overcast", "night"], "answer": "overcast"}],
     "sarcasm": "sarcastic"}                          # tier 2 gold: "sarcastic" / "not sarcastic", or the
                                                      # polarity labels the annotators used (any two or more words)

Media paths are relative to the file's folder and cannot leave it; they stay paths (harness's media module decodes
them for the model). Rows are read through `datasets`.

Each post gives one sample per perception question (lettered choices, the media alone; id `<post>#p<i>`) and one
cognition sample (the media and the post text, "is this post sarcastic?", answered with a label; id
`<post>#cognition`). `tier=perception|cognition|both` keeps those samples. Labels: Sarcastic / Not Sarcastic when
the file's sarcasm values are those two words (any case), else the file's distinct values, sorted.

Numbers, each with a 95% interval from a post-level bootstrap (posts drawn with replacement, all of a post's samples
with it), overall and per media kind (image / video):
- perception accuracy: the share of perception questions answered right;
- cognition accuracy: the share of posts whose sarcasm question is answered right;
- cognition error given correct perception (the paper's headline, lower is better; primary with tier=both): among
  posts whose perception questions are all right, the share whose sarcasm answer is wrong (harness.metrics.aggregates
  conditional_error, declared as a Task aggregate over the unit "post").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from harness import (
    HarnessError,
    MediaError,
    Metric,
    Sample,
    Task,
    UsageError,
    aggregate,
    check_choices,
    conditional_error,
    read_text,
    resolve_media,
)
from tasks.datasets_io import load_rows
from tasks.file_lines import file_version, jsonl_rows

EXAMPLE = Path(__file__).resolve().parent / "visual_room_example" / "posts.jsonl"
Tier = Literal["perception", "cognition", "both"]
TIERS = get_args(Tier)
SARCASM_LABELS = ["Not Sarcastic", "Sarcastic"]
COGNITION = ('The {kind} above comes with this post: "{text}"\n'
             "Taking the {kind} and the text together, is this post sarcastic?")


class level_accuracy:  # noqa: N801 - used like a function, as harness.metrics.aggregates' own
    """The share right among the records tagged level=`level` (a post's records stay together in the bootstrap)."""

    def __init__(self, level: str) -> None:
        self.level = level
        self.keys = ("level",)

    def __call__(self, rows: Any) -> float | None:
        mask = rows.codes["level"] == rows.code("level", self.level)
        return float(rows.correct[mask].mean()) if mask.any() else None

    def __repr__(self) -> str:
        return f"level_accuracy({self.level!r})"


def metrics(tier: str) -> list[Metric]:
    """The tier's metrics, the primary first: with both tiers the cognition error given correct perception, else the
    tier's accuracy; each over posts (a post's records stay together in the bootstrap)."""
    perception = aggregate("perception_accuracy", level_accuracy("perception"), unit="post", label="perception acc")
    cognition = aggregate("cognition_accuracy", level_accuracy("cognition"), unit="post", label="cognition acc")
    if tier == "perception":
        return [perception]
    if tier == "cognition":
        return [cognition]
    return [aggregate("cognition_error_given_perception",
                      conditional_error("post", given="level=perception", then="level=cognition"),
                      higher_is_better=False, unit="post", label="cog. error | perception right"),
            perception, cognition]


def read_posts(file: Path) -> list[dict[str, Any]]:
    """Every line through `datasets` (media fields stay strings); a line it cannot read is found and named by
    reading the file line by line."""
    read_text(file)  # a byte that is not UTF-8 fails naming its line
    def locate() -> None:
        for n, row in jsonl_rows(file):  # names the file and line of invalid JSON
            _check(row, f"{file}:{n}")

    return load_rows(file, "json", "Visual Room posts", locate=locate)


def _check(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        raise HarnessError(f"{where}: expected a JSON object (a post), got {type(row).__name__}")
    for key in ("id", "text", "sarcasm"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise HarnessError(f"{where}: field {key!r} must be a non-empty string")
    media = [k for k in ("image", "video") if row.get(k) is not None]
    if len(media) != 1 or not isinstance(row[media[0]], str):
        raise HarnessError(f"{where}: post {row['id']}: give exactly one of 'image' or 'video' (a path)")
    perception = row.get("perception")
    if not isinstance(perception, list) or not perception:
        raise HarnessError(f"{where}: post {row['id']}: 'perception' must be a non-empty list of "
                           "{question, choices, answer}")
    for i, item in enumerate(perception):
        ok = (isinstance(item, dict) and isinstance(item.get("question"), str) and item["question"].strip()
              and isinstance(item.get("choices"), list) and len(item["choices"]) >= 2
              and all(isinstance(c, str) for c in item["choices"]) and item.get("answer") in item["choices"])
        if not ok:
            raise HarnessError(f"{where}: post {row['id']}: perception question {i + 1} needs a question, at least "
                               "2 choices (strings) and an answer that is one of them")
        check_choices(item["choices"], f"{where}: post {row['id']}: perception question {i + 1}")  # none empty or twice
        if len(item["choices"]) > 26:
            raise HarnessError(f"{where}: post {row['id']}: perception question {i + 1} has more than 26 choices")


def _labels(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, str]]:
    values = sorted({" ".join(r["sarcasm"].split()) for r in rows})
    if {v.lower() for v in values} <= {"sarcastic", "not sarcastic"}:
        return list(SARCASM_LABELS), {v: SARCASM_LABELS[v.lower() == "sarcastic"] for v in values}
    if len(values) < 2:
        raise HarnessError(f"every post has the sarcasm label {values[0]!r}: the cognition question needs at least "
                           "two labels (or use sarcastic / not sarcastic)")
    return values, {v: v for v in values}


def posts_to_samples(file: Path, tier: str) -> list[Sample]:
    rows = read_posts(file)
    if not rows:
        raise HarnessError(f"{file}: no posts")
    for n, row in enumerate(rows, 1):
        row = {k: v for k, v in row.items() if v is not None}  # datasets fills a column a line lacks with None
        _check(row, f"{file}: post {n}")
    labels, gold = _labels(rows)
    root = file.parent
    samples: list[Sample] = []
    seen: set[str] = set()
    for n, row in enumerate(rows, 1):
        post = str(row["id"])
        if post in seen:
            raise HarnessError(f"{file}: post {n}: duplicate id {post!r}")
        seen.add(post)
        kind = "image" if row.get("image") is not None else "video"
        try:
            media = resolve_media(root, row[kind], kind)
        except MediaError as e:
            raise HarnessError(f"{file}: post {n} ({post}): {e}") from None
        meta = {"post": post, "media": kind}
        if tier in ("perception", "both"):
            for i, item in enumerate(row["perception"], 1):
                samples.append(Sample(id=f"{post}#p{i}", question=item["question"], choices=list(item["choices"]),
                                      answer=item["answer"], media=[media], lettered=True,
                                      metadata={**meta, "level": "perception"}))
        if tier in ("cognition", "both"):
            samples.append(Sample(id=f"{post}#cognition", question=COGNITION.format(kind=kind, text=row["text"]),
                                  choices=list(labels), answer=gold[" ".join(row["sarcasm"].split())], media=[media],
                                  lettered=False, metadata={**meta, "level": "cognition"}))
    return samples


def load(path: str | None = None, tier: Tier = "both") -> Task:
    """path: a Visual Room JSONL (default: the small generated example in tasks/visual_room_example/).
    tier: perception | cognition | both."""
    tier = str(tier)
    if tier not in TIERS:
        raise UsageError(f"visual_room tier must be one of {', '.join(TIERS)}, got {tier!r}")
    file = Path(str(path)).expanduser() if path is not None else EXAMPLE
    if not file.is_file():
        raise HarnessError(f"visual_room: posts file not found: {file}")
    file = file.resolve()
    samples = posts_to_samples(file, tier)
    posts = len({s.metadata["post"] for s in samples})
    kinds = {k: len({s.metadata["post"] for s in samples if s.metadata["media"] == k}) for k in ("image", "video")}
    declared = metrics(tier)
    primary = declared[0]
    return Task(
        name="visual_room",
        description=f"Visual Room two-tier multimodal sarcasm: {posts} posts ({kinds['image']} image, "
                    f"{kinds['video']} video) from {file.name}, tier {tier}; primary: {primary.name.replace('_', ' ')}"
                    " (post-level bootstrap intervals; harness's extraction, no official scorer exists)",
        version=f"visual_room-{file_version(file)}",
        load=lambda: samples,
        root=file.parent,
        group_by=["media"],
        mode="generate",
        # the built-in example is recorded as None (the default), not its install path: one run id on every machine
        args={"path": None if path is None else str(file), "tier": tier},
        metrics=declared,
        shots_by="level",  # perception examples for perception questions, sarcasm examples for the sarcasm question
    )
