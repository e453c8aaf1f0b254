"""Multi-annotator metrics (docs/DESIGN.md, Task contract: metrics; ../shared/BENCHMARKS.md, multi-annotator): does a
model reproduce each annotator's labels, and the structure of agreement between annotators?

- `kappa_matrix`: the K x K matrix of Cohen's kappa between annotators i and j over the items both labelled (a label
  code, -1 = missing), diagonal 1, as QuMAB's ADDMetric builds it. A pair with no common item is 0 (theirs keeps 0);
  so is a pair whose chance agreement is 1 (both gave one and the same label to every common item), where
  scikit-learn's `cohen_kappa_score` is 0/0. Otherwise it equals `cohen_kappa_score` on the pair (tests check it),
  computed for all pairs at once with numpy so that a bootstrap of 2,000 draws stays cheap.
- `dic`: DIC, the kappa matrix of the predictions against that of the true labels: `frobenius` = ||pred - true||_F,
  `absolute` = |mean off-diagonal(pred) - mean off-diagonal(true)|, `relative` = absolute / mean off-diagonal(true),
  and both means.
- `weighted_f1_score`: scikit-learn's `f1_score(average="weighted")` (an unparsed answer is a class of its own with
  no support), in numpy for the same reason.
- `bae`: BAE (paper only, no code): annotators placed by MDS once from the similarity of their explanation vectors
  and once from the similarity of their labels, aligned by Procrustes; the alignment error (SciPy's disparity).

As declared aggregates (harness/metrics/aggregates.py) over a cell's records, each record one (item, annotator) pair
with
metadata `item` and `annotator`, its answer and gold label read as texts: `dic_metric(part, labels)` (unit: the item,
so a bootstrap draws items with all their annotators' records) and `weighted_f1(labels)`. `write_agreement` writes
both matrices (agreement.json) and their heat map (agreement.png) into a run folder (a Task.artifacts hook), and BAE
(`bae_of`) where records carry explanation vectors (task_fields "explanation", copied from a predictions file by
`harness grade`); without any, agreement.json has no "bae" at all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.metrics.aggregates import Rows, record_text

DIC_PARTS = ("frobenius", "absolute", "relative", "mean_pred", "mean_true")


def kappa_matrix(codes: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Cohen's kappa of every pair of columns of `codes` (items x annotators, label codes, -1 missing) over the items
    both labelled; diagonal 1; undefined pairs (no common item, chance agreement 1) 0."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.ndim != 2:
        raise ValueError("codes must be items x annotators")
    k = codes.shape[1]
    c = int(n_classes if n_classes is not None else (codes.max() + 1 if codes.size else 0))
    labelled = (codes >= 0).astype(np.float64)
    onehot = np.zeros((*codes.shape, max(c, 1)), dtype=np.float64)
    n_idx, k_idx = np.nonzero(codes >= 0)
    onehot[n_idx, k_idx, codes[n_idx, k_idx]] = 1.0
    common = labelled.T @ labelled  # items labelled by both
    agree = np.einsum("nic,njc->ij", onehot, onehot)
    counts = np.einsum("nic,nj->ijc", onehot, labelled)  # annotator i's label counts over the items j labelled too
    with np.errstate(divide="ignore", invalid="ignore"):
        po = agree / common
        pe = np.einsum("ijc,jic->ij", counts, counts) / common**2
        kappa = (po - pe) / (1.0 - pe)
    kappa[(common == 0) | (pe >= 1.0 - 1e-12) | ~np.isfinite(kappa)] = 0.0
    kappa[np.arange(k), np.arange(k)] = 1.0
    return kappa


def mean_off_diagonal(matrix: np.ndarray) -> float | None:
    k = matrix.shape[0]
    if k < 2:
        return None
    return float(matrix[~np.eye(k, dtype=bool)].mean())


def dic(pred: np.ndarray, true: np.ndarray, n_classes: int | None = None) -> dict[str, float | None]:
    """DIC of per-annotator predictions against the true labels (both items x annotators, label codes, -1 missing)."""
    n = n_classes if n_classes is not None else int(max(np.max(pred, initial=-1), np.max(true, initial=-1)) + 1)
    kp, kt = kappa_matrix(pred, n), kappa_matrix(true, n)
    mp, mt = mean_off_diagonal(kp), mean_off_diagonal(kt)
    absolute = None if mp is None or mt is None else abs(mp - mt)
    relative = None if absolute is None or not mt else absolute / mt
    return {"frobenius": float(np.linalg.norm(kp - kt)), "absolute": absolute, "relative": relative,
            "mean_pred": mp, "mean_true": mt}


def weighted_f1_score(gold: np.ndarray, pred: np.ndarray, n_classes: int) -> float | None:
    """sklearn's weighted F1 over label codes (pred -1: unparsed, a class without support); no gold: None."""
    gold, pred = np.asarray(gold, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    keep = gold >= 0
    gold, pred = gold[keep], pred[keep]
    if not gold.size:
        return None
    size = n_classes + 1  # the last class: unparsed
    pred = np.where(pred < 0, n_classes, pred)
    conf = np.bincount(gold * size + pred, minlength=size * size).reshape(size, size).astype(np.float64)
    tp, support, predicted = np.diag(conf), conf.sum(1), conf.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
    return float((f1 * support).sum() / support.sum())


def bae(explanations: np.ndarray, labels: np.ndarray, dims: int = 2, seed: int = 0) -> float:
    """BAE: annotators placed by metric MDS (scikit-learn) from 1 - cosine similarity of their explanations
    (`explanations`: one flattened vector per annotator, e.g. their maps over all items concatenated) and from
    1 - kappa of their labels (`labels`: annotators x items, label codes, -1 missing), then aligned by Procrustes
    (SciPy); the disparity (sum of squared differences of the standardized configurations after alignment), lower =
    explanations reflect labelling behaviour."""
    from scipy.spatial import procrustes
    from sklearn.manifold import MDS

    x = np.asarray(explanations, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = x / np.where(norms > 0, norms, 1.0)
    d_expl = np.clip(1.0 - unit @ unit.T, 0.0, None)
    d_label = np.clip(1.0 - kappa_matrix(np.asarray(labels).T), 0.0, None)
    np.fill_diagonal(d_expl, 0.0)
    np.fill_diagonal(d_label, 0.0)
    places = []
    for d in (d_label, d_expl):
        mds = MDS(n_components=dims, metric="precomputed", init="classical_mds", random_state=seed, n_init=1)
        places.append(mds.fit_transform((d + d.T) / 2))
    return float(procrustes(places[0], places[1])[2])


# --- as declared aggregates ------------------------------------------------------------------------------------------

class _LabelTexts:
    """Reads each record's answer and gold label as codes in `labels` (-1: none, unparsed or not a label)."""

    texts = ("answer", "gold")

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)
        self._code = {label: i for i, label in enumerate(self.labels)}

    def stats(self, texts: Sequence[tuple[Any, ...]]) -> np.ndarray:
        out = np.full((len(texts), 2), -1, dtype=np.int64)
        for i, (answer, gold) in enumerate(texts):
            out[i] = self._code.get(answer, -1), self._code.get(gold, -1)
        return out if len(texts) else np.zeros((0, 2), dtype=np.int64)


class dic_metric(_LabelTexts):  # noqa: N801 - used like a function: dic_metric("frobenius", labels)
    """One DIC number over a cell's records (fewer than two annotators: None). Declare with unit="item"."""

    def __init__(self, part: str, labels: Sequence[str], annotator: str = "annotator", item: str = "item") -> None:
        if part not in DIC_PARTS:
            raise ValueError(f"DIC part must be one of {', '.join(DIC_PARTS)}, got {part!r}")
        super().__init__(labels)
        self.part, self.annotator, self.item = part, annotator, item
        self.keys = (annotator, item)

    def __call__(self, rows: Rows) -> float | None:
        pred, true = matrices(rows.codes[self.item], rows.codes[self.annotator], rows.stats[self])
        if pred.shape[1] < 2:
            return None
        value = dic(pred, true, len(self.labels))[self.part]
        return None if value is None or not math.isfinite(value) else value

    def __repr__(self) -> str:
        return f"dic_metric({self.part!r})"


class weighted_f1(_LabelTexts):  # noqa: N801 - used like a function
    """Weighted F1 of the answers against the gold labels (WAF), as sklearn computes it."""

    keys = ()

    def __call__(self, rows: Rows) -> float | None:
        codes = rows.stats[self]
        return weighted_f1_score(codes[:, 1], codes[:, 0], len(self.labels))

    def __repr__(self) -> str:
        return "weighted_f1()"


def matrices(items: np.ndarray, annotators: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Items x annotators matrices of predicted and true label codes (-1 where that annotator has no record)."""
    _, row = np.unique(items, return_inverse=True)
    _, col = np.unique(annotators, return_inverse=True)
    shape = (int(row.max()) + 1 if row.size else 0, int(col.max()) + 1 if col.size else 0)
    pred, true = np.full(shape, -1, dtype=np.int64), np.full(shape, -1, dtype=np.int64)
    pred[row, col], true[row, col] = codes[:, 0], codes[:, 1]
    return pred, true


# --- the run folder's artifact ---------------------------------------------------------------------------------------

def bae_of(vectors: Sequence[tuple[int, int, Sequence[float]]], true: np.ndarray) -> dict[str, Any]:
    """BAE over explanation vectors given per (item, annotator) (`vectors`: item index, annotator index, vector) against
    the true labels (`true`: items x annotators, label codes, -1 missing): each annotator's explanations over all
    items concatenated in item order (a zero vector where that pair has none), then `bae`. `value` is None with fewer
    than three annotators (two points always align) or where MDS fails."""
    n_items, k = true.shape
    length = len(vectors[0][2])
    flat = np.zeros((k, n_items, length), dtype=np.float64)
    used = 0
    for i, a, vec in vectors:
        if len(vec) == length:  # `harness grade` checks one length per file; a record of another source may differ
            flat[a, i] = vec
            used += 1
    value = None
    if k >= 3:
        try:
            value = bae(flat.reshape(k, -1), true.T)
        except ValueError:
            value = None
    return {"value": None if value is None or not math.isfinite(value) else round(value, 6), "records": used,
            "length": length, "against": "true labels"}


def agreement_of(records: Iterable[Mapping[str, Any]], labels: Sequence[str], annotator: str = "annotator",
                 item: str = "item", explanation: str | None = "explanation") -> dict[str, Any]:
    """Both kappa matrices (predictions, true labels) over the scored records, with the annotators' names and DIC;
    and BAE (`bae_of`) where some records carry an `explanation` vector in their task_fields."""
    texts = _LabelTexts(labels)
    items: dict[str, int] = {}
    names: dict[str, int] = {}
    rows: list[tuple[int, int, int, int]] = []
    vectors: list[tuple[int, int, Sequence[float]]] = []
    for r in records:
        meta = r.get("metadata") or {}
        if r.get("error") is not None or annotator not in meta or item not in meta:
            continue
        answer, gold = texts.stats([(record_text(r, "answer"), record_text(r, "gold"))])[0]
        rows.append((items.setdefault(str(meta[item]), len(items)), names.setdefault(str(meta[annotator]), len(names)),
                     int(answer), int(gold)))
        fields = r.get("task_fields")
        vec = fields.get(explanation) if explanation and type(fields) is dict else None
        if isinstance(vec, list) and vec:
            vectors.append((rows[-1][0], rows[-1][1], vec))
    arr = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    pred, true = matrices(arr[:, 0], arr[:, 1], arr[:, 2:])
    kp, kt = kappa_matrix(pred, len(labels)), kappa_matrix(true, len(labels))
    out = {"annotators": list(names), "items": len(items), "kappa_pred": kp.round(6).tolist(),
           "kappa_true": kt.round(6).tolist(), "dic": dic(pred, true, len(labels))}
    if vectors:
        out["bae"] = bae_of(vectors, true)
    return out


def heat_map(agreement: Mapping[str, Any], path: Path) -> None:
    """Side-by-side heat maps of the two kappa matrices (matplotlib, no display)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    names = agreement["annotators"]
    size = max(4.0, 0.45 * len(names) + 2.5)
    fig = Figure(figsize=(2 * size + 1.2, size))
    axes = fig.subplots(1, 2)
    image = None
    for ax, key, title in zip(axes, ("kappa_true", "kappa_pred"), ("true labels", "predictions"), strict=True):
        image = ax.imshow(np.asarray(agreement[key], dtype=np.float64), vmin=-1.0, vmax=1.0, cmap="RdBu_r")
        ax.set_title(f"Cohen's kappa: {title}")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
    frob = agreement["dic"]["frobenius"]
    bae_value = (agreement.get("bae") or {}).get("value")
    fig.suptitle(f"annotator agreement ({agreement['items']} items); DIC Frobenius {frob:.3f}"
                 + (f"; BAE {bae_value:.3f}" if bae_value is not None else ""))
    fig.colorbar(image, ax=list(axes), shrink=0.8)
    fig.savefig(path, dpi=100)


def write_agreement(folder: Path, records: Iterable[Mapping[str, Any]], labels: Sequence[str],
                    annotator: str = "annotator", item: str = "item") -> list[Path]:
    """agreement.json (both matrices, DIC and, with explanation vectors, BAE) and agreement.png (their heat map) in
    the run folder."""
    agreement = agreement_of(records, labels, annotator, item)
    json_path, png_path = folder / "agreement.json", folder / "agreement.png"
    tmp = json_path.with_name(json_path.name + ".tmp")
    tmp.write_text(json.dumps(agreement, indent=1) + "\n", encoding="utf-8")
    tmp.replace(json_path)
    if agreement["annotators"]:
        heat_map(agreement, png_path)
    return [json_path, png_path]
