#!/usr/bin/env python
"""Speed benchmark: cold queries, indexing throughput per precision, FAISS at scale.

Every comparison is measured side by side in one run, and reported as a ratio.

Usage:
    python scripts/bench_speed.py [--runs 7] [--sample 400] [--scale 100000,1000000]
                                  [--skip-quality] [--skip-scale] [--skip-update]
                                  [--compare-with CHECKOUT]

Prints Markdown tables (paste them into the README with the date and machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CRANFIELD = ROOT / "bench-data" / "cranfield"
SHARED = ROOT.parent / "shared" / "bench"
QUERY = "Xuhui incubator size"

BASELINE = """
import os, sys
os.environ["HF_HUB_OFFLINE"] = "1"
import faiss
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
index = faiss.read_index(sys.argv[2])
q = model.encode([sys.argv[3]], normalize_embeddings=True)
scores, ids = index.search(q, 5)
print(ids[0].tolist())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="cold runs of each command (median reported)")
    parser.add_argument("--sample", type=int, default=400, help="Cranfield documents for the throughput test")
    parser.add_argument("--scale", default="100000,1000000", help="synthetic corpus sizes for the FAISS table")
    parser.add_argument("--skip-quality", action="store_true", help="skip the Cranfield fp32-vs-auto check")
    parser.add_argument("--skip-scale", action="store_true", help="skip the synthetic FAISS table")
    parser.add_argument("--docs", type=int, default=10_000, help="documents in the update-vs-rebuild corpus")
    parser.add_argument("--skip-update", action="store_true", help="skip the update-vs-rebuild table")
    parser.add_argument("--hit-docs", type=int, default=0, metavar="N",
                        help="also time -k 10 against -k 1000 on an index of N synthetic documents")
    parser.add_argument("--update-docs", type=int, default=0, metavar="N",
                        help="with --compare-with: time `index update` and `index watch` after one changed file "
                             "on N synthetic documents, this checkout against the other, interleaved")
    parser.add_argument("--build-compare", action="store_true",
                        help="with --compare-with: `index build` on the seeds and on Cranfield's documents as "
                             "files, this checkout against the other, interleaved")
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold-query table")
    parser.add_argument("--skip-throughput", action="store_true", help="skip the indexing throughput table")
    parser.add_argument("--compare-with", type=Path, default=None, metavar="CHECKOUT",
                        help="another hubsearch checkout (e.g. a git worktree of an older commit) whose cold "
                             "query joins the table, run with PYTHONPATH=CHECKOUT")
    args = parser.parse_args()
    copy_from_shared(CRANFIELD)

    print(f"hubsearch speed benchmark, {time.strftime('%Y-%m-%d')}, {machine()}\n")
    if not args.skip_cold:
        cold_queries(args.runs, args.compare_with)
    if not args.skip_throughput:
        throughput(args.sample)
    if not args.skip_update:
        update_vs_rebuild(args.docs)
    if args.hit_docs:
        work_per_hit(args.hit_docs, args.compare_with, args.runs)
    if args.update_docs and args.compare_with:
        update_side_by_side(args.update_docs, args.compare_with)
    if args.build_compare and args.compare_with:
        builds_side_by_side(args.compare_with)
    if not args.skip_quality:
        quality()
    if not args.skip_scale:
        scale([int(n) for n in args.scale.split(",") if n])


def copy_from_shared(folder: Path) -> None:
    """Copy a BEIR collection from ../shared/bench into `folder` when it is missing there."""
    if not folder.exists() and (SHARED / folder.name).exists():
        shutil.copytree(SHARED / folder.name, folder)


def machine() -> str:
    """The CPU model, the cores this process may use, and the Python version."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores, Python {platform.python_version()}"


def _time(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def cold_queries(runs: int, other: Path | None = None) -> None:
    """Median wall time of a fresh `hubsearch query` process against the plain way (and,
    with `other`, against another checkout of hubsearch), interleaved run by run."""
    from hubsearch.embed.models import bundled_model_dir

    with tempfile.TemporaryDirectory() as tmp:
        contenders = {}
        for name, checkout in (("ours", ROOT), ("other", other)):
            if checkout is None:
                continue
            # Bytecode as a regular (non-editable) install has it, even where
            # PYTHONDONTWRITEBYTECODE is set.
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / "hubsearch")], check=True)
            project = Path(tmp) / name
            shutil.copytree(ROOT / "seeds", project / "seeds")
            env = {**os.environ, "HUBSEARCH_CACHE": str(project / "cache"), "PYTHONPATH": str(checkout.resolve())}
            env.pop("HUBSEARCH_INDEX", None)
            command = [sys.executable, "-m", "hubsearch", "query", QUERY, "--json"]
            first = _time(command, project, env)  # builds the index from seeds/
            contenders[name] = (command, project, env, first)
        command, project, env, first = contenders["ours"]
        generation = (project / "index" / "CURRENT").read_text().strip()
        faiss_file = project / "index" / generation / "vectors.faiss"
        contenders["baseline"] = ([sys.executable, "-c", BASELINE, str(bundled_model_dir()), str(faiss_file), QUERY],
                                  project, env, 0.0)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(runs):  # interleaved, so all see the same machine noise
            for name, (cmd, cwd, env, _) in contenders.items():
                times[name].append(_time(cmd, cwd, env))
    base = statistics.median(times["baseline"])
    print(f"### Cold query on the seeds index (median of {runs} fresh processes, interleaved)\n")
    print("| command | median wall time | max | ratio |")
    print("|---|---|---|---|")
    labels = {"baseline": "baseline: import sentence-transformers, load model, encode, FAISS search",
              "ours": "`hubsearch query` (ONNX query path, hybrid, highlight)",
              "other": f"`hubsearch query` from {other}"}
    for name in ("baseline", "other", "ours"):
        if name in times:
            median = statistics.median(times[name])
            ratio = "1.0x" if name == "baseline" else f"{base / median:.1f}x faster"
            print(f"| {labels[name]} | {median:.3f} s | {max(times[name]):.3f} s | {ratio} |")
    print(f"| first `hubsearch query` on a fresh checkout (builds the index) | {first:.3f} s | | |\n")


def _passages(sample: int) -> list[str]:
    texts = []
    with (CRANFIELD / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            doc = json.loads(line)
            texts.append(f"{doc['title']}\n{doc['text']}")
            if len(texts) >= sample:
                break
    return texts


def throughput(sample: int) -> None:
    """Tokens/s and passages/s of each precision against plain SentenceTransformer.encode fp32."""
    import torch  # noqa: F401  (imported before timing, by all contenders alike)
    from sentence_transformers import SentenceTransformer

    from hubsearch.embed.base import cpu_has_fast_bf16
    from hubsearch.embed.models import resolve_model
    from hubsearch.embed.onnx import Int8Embedder, export_onnx, load_query_embedder
    from hubsearch.embed.transformer import SentenceTransformerEmbedder

    ref = resolve_model()
    export_onnx(SentenceTransformerEmbedder(ref))  # the export queries and small updates run
    onnx = load_query_embedder(ref)
    texts = _passages(sample)
    plain = SentenceTransformer(ref.path, device="cpu")
    tokens = sum(min(len(ids), ref.max_seq_length) for ids in plain.tokenizer(texts)["input_ids"])
    reference = plain.encode(texts, batch_size=64, normalize_embeddings=True)
    contenders = [
        ("plain `SentenceTransformer.encode`, fp32, batch 64", lambda t: plain.encode(t, batch_size=64, normalize_embeddings=True)),
        ("hubsearch fp32", SentenceTransformerEmbedder(ref, precision="fp32").embed),
        ("hubsearch bf16 (autocast)", SentenceTransformerEmbedder(ref, precision="bf16").embed),
        ("hubsearch int8 (ONNX dynamic quantisation)", Int8Embedder(SentenceTransformerEmbedder(ref)).embed),
    ]
    if onnx is not None:
        contenders.append(("hubsearch fp32 through onnxruntime (the export updates use)", onnx.embed))
    rows = []
    for label, fn in contenders:
        fn(texts[:32])  # warm-up
        start = time.perf_counter()
        vectors = fn(texts)
        seconds = time.perf_counter() - start
        cos = float(np.min(np.sum(np.asarray(vectors) * reference, axis=1)))
        rows.append((label, tokens / seconds, len(texts) / seconds, cos))
    base = rows[0][1]
    print(f"### Indexing throughput ({len(texts)} Cranfield documents, {tokens} tokens; "
          f"auto = {'bf16' if cpu_has_fast_bf16() else 'fp32'} on this CPU)\n")
    print("| embedder | tokens/s | passages/s | vs plain fp32 | min cosine to plain fp32 |")
    print("|---|---|---|---|---|")
    for label, tps, pps, cos in rows:
        print(f"| {label} | {tps:,.0f} | {pps:.1f} | {tps / base:.2f}x | {cos:.5f} |")
    print()


def builds_side_by_side(other: Path, rounds: int = 2) -> None:
    """`index build` wall time on the seeds and on Cranfield's 1,400 documents (as text
    files), this checkout against `other`, interleaved round by round."""
    with tempfile.TemporaryDirectory() as tmp:
        cranfield = Path(tmp) / "cranfield"
        cranfield.mkdir()
        for line in (CRANFIELD / "corpus.jsonl").open(encoding="utf-8"):
            doc = json.loads(line)
            (cranfield / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n{doc['text']}", encoding="utf-8")
        times: dict[tuple[str, str], list[float]] = {}
        contenders = [(name, {**os.environ, "HUBSEARCH_CACHE": str(Path(tmp) / f"cache-{name[:4]}"),
                              "PYTHONPATH": str(checkout.resolve())}, checkout)
                      for name, checkout in (("this checkout", ROOT), (str(other), other))]
        # Each checkout runs from its own folder: `python -m` puts the working folder first on
        # sys.path, before PYTHONPATH.
        for _, env, checkout in contenders:  # untimed: each makes its ONNX export once, as any first build does
            _time([sys.executable, "-m", "hubsearch", "index", "build", str(ROOT / "seeds"), "--index",
                   str(Path(tmp) / f"warm-up-{env['HUBSEARCH_CACHE'][-4:]}")], checkout, env)
        for n in range(rounds):
            for name, env, checkout in contenders:
                for label, corpus in (("seeds", ROOT / "seeds"), ("Cranfield, 1,400 files", cranfield)):
                    index = Path(tmp) / f"index-{n}-{name[:4]}-{label[:4]}"
                    times.setdefault((label, name), []).append(
                        _time([sys.executable, "-m", "hubsearch", "index", "build", str(corpus), "--index", str(index)],
                              checkout, env))
    print(f"### `index build` wall time (median of {rounds}, interleaved)\n")
    print("| corpus | this checkout | " + str(other) + " | change |")
    print("|---|---|---|---|")
    for label in ("seeds", "Cranfield, 1,400 files"):
        ours, theirs = statistics.median(times[(label, "this checkout")]), statistics.median(times[(label, str(other))])
        print(f"| {label} | {ours:.1f} s | {theirs:.1f} s | {100 * (ours - theirs) / theirs:+.0f}% |")
    print()


def update_side_by_side(docs: int, other: Path, rounds: int = 3) -> None:
    """`index update` after one changed file, and `index watch` from a saved file to its new
    generation going live, this checkout against `other` (each on an index it built itself
    from the same corpus), interleaved round by round."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        _synthetic_corpus(corpus, docs)
        runs = {}
        for name, checkout in (("this checkout", ROOT), (str(other), other)):
            env = {**os.environ, "HUBSEARCH_CACHE": str(Path(tmp) / f"cache-{len(runs)}"),
                   "PYTHONPATH": str(checkout.resolve())}
            index = Path(tmp) / f"index-{len(runs)}"
            # Each checkout runs from its own folder: `python -m` puts the working folder first on
            # sys.path, before PYTHONPATH.
            build = _time([sys.executable, "-m", "hubsearch", "index", "build", str(corpus), "--index", str(index)],
                          checkout, env)
            runs[name] = (env, index, build, [], [], checkout)
        for n in range(rounds):
            (corpus / "doc00042.txt").write_text(f"Document 42\nRewritten {n}: about wing flutter.", encoding="utf-8")
            for env, index, _, times, _, checkout in runs.values():
                # Both indexes see the same change: update one, then the other.
                times.append(_time([sys.executable, "-m", "hubsearch", "index", "update", "--index", str(index)],
                                   checkout, env))
        for env, index, _, _, watched, checkout in runs.values():
            watched.extend(_watch_latency(corpus, index, env, rounds, checkout))
    print(f"### `index update` and `index watch` after one changed file, {docs:,} documents "
          f"(median of {rounds}, interleaved)\n")
    print("| checkout | first build | `index update` | share of the build | `index watch`: save to live |")
    print("|---|---|---|---|---|")
    for name, (_, _, build, times, watched, _) in runs.items():
        update = statistics.median(times)
        print(f"| {name} | {build:.1f} s | {update:.2f} s | {100 * update / build:.1f}% | "
              f"{statistics.median(watched):.2f} s |")
    print()


def _watch_latency(corpus: Path, index: Path, env: dict[str, str], rounds: int, checkout: Path = ROOT) -> list[float]:
    """Seconds from writing a file to its index's CURRENT naming a new generation, with
    `hubsearch index watch` running (its default debounce), once per round."""
    current = index / "CURRENT"
    watcher = subprocess.Popen([sys.executable, "-m", "hubsearch", "index", "watch", "--index", str(index)],
                               cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert watcher.stderr is not None
        for line in watcher.stderr:  # the first update, at start
            if "unchanged" in line or "indexed" in line:
                break
        import threading

        threading.Thread(target=watcher.stderr.read, daemon=True).start()  # keep the pipe drained
        times = []
        for n in range(rounds):
            before = current.read_text()
            time.sleep(1.0)
            start = time.perf_counter()
            (corpus / "doc00043.txt").write_text(f"Document 43\nWatched {n}: about panel flutter.", encoding="utf-8")
            while current.read_text() == before:
                time.sleep(0.005)
            times.append(time.perf_counter() - start)
        return times
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)


def update_vs_rebuild(docs: int) -> None:
    """One changed file in a corpus of `docs` documents: `index update` against full builds."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        _synthetic_corpus(corpus, docs)
        env = {**os.environ, "HUBSEARCH_CACHE": str(Path(tmp) / "cache")}
        hubsearch = [sys.executable, "-m", "hubsearch", "index"]
        build = _time(hubsearch + ["build", str(corpus), "--index", str(index)], ROOT, env)
        query = [sys.executable, "-m", "hubsearch", "query", QUERY, "--index", str(index), "--json"]
        checked, unchecked, k10, k1000 = [], [], [], []
        for _ in range(5):  # interleaved, so all see the same machine noise
            checked.append(_time(query, ROOT, env))
            unchecked.append(_time(query + ["--no-stale-check"], ROOT, env))
            k10.append(_time(query + ["--no-stale-check", "-k", "10"], ROOT, env))
            k1000.append(_time(query + ["--no-stale-check", "-k", "1000"], ROOT, env))
        passages = json.loads(subprocess.run([sys.executable, "-m", "hubsearch", "index", "info", "--json", "--index",
                                              str(index)], env=env, capture_output=True, text=True).stdout)
        passages = passages["corpus"]["passages"]
        (corpus / "doc00042.txt").write_text("Document 42\nA rewritten document about wing flutter.", encoding="utf-8")
        update = _time(hubsearch + ["update", "--index", str(index)], ROOT, env)
        cached = _time(hubsearch + ["rebuild", "--index", str(index)], ROOT, env)
        full = _time(hubsearch + ["rebuild", "--index", str(index), "--no-cache"], ROOT, env)
    print(f"### One changed file in a {docs:,}-document corpus (auto precision, wall time of each command)\n")
    print("| command | wall time | vs full rebuild |")
    print("|---|---|---|")
    print(f"| `hubsearch index build` (first build) | {build:.1f} s | {full / build:.2f}x |")
    print(f"| `hubsearch index rebuild --no-cache` (embeds everything) | {full:.1f} s | 1.00x |")
    print(f"| `hubsearch index rebuild` (re-chunks, reuses unchanged vectors) | {cached:.1f} s | {full / cached:.1f}x faster |")
    print(f"| `hubsearch index update` after one file changed | {update:.1f} s | {full / update:.1f}x faster |\n")
    a, b = statistics.median(checked), statistics.median(unchecked)
    print("Cold `hubsearch query` on this index (median of 5 fresh processes, interleaved):\n")
    print("| command | median wall time |")
    print("|---|---|")
    print(f"| `hubsearch query` (stats all {docs:,} sources to warn if the index is stale) | {a:.3f} s |")
    print(f"| `hubsearch query --no-stale-check` | {b:.3f} s ({b - a:+.3f} s) |\n")
    c, d = statistics.median(k10), statistics.median(k1000)
    print(f"Work per hit on this index ({passages:,} passages; `--json --no-stale-check`, median of 5, interleaved):\n")
    print("| command | median wall time | vs -k 10 |")
    print("|---|---|---|")
    print(f"| `hubsearch query -k 10` | {c:.3f} s | 1.00x |")
    print(f"| `hubsearch query -k 1000` | {d:.3f} s | {d / c:.2f}x |\n")


def _synthetic_corpus(corpus: Path, docs: int) -> None:
    """`docs` documents of 60 to 140 words drawn from Cranfield's vocabulary."""
    import random

    rng = random.Random(7)
    vocabulary = [json.loads(line)["text"].split() for line in (CRANFIELD / "corpus.jsonl").open(encoding="utf-8")]
    words = [w for doc in vocabulary for w in doc]
    corpus.mkdir()
    for i in range(docs):
        body = " ".join(rng.choice(words) for _ in range(rng.randint(60, 140)))
        (corpus / f"doc{i:05}.txt").write_text(f"Document {i}\n{body}.", encoding="utf-8")


def work_per_hit(docs: int, other: Path | None = None, runs: int = 5) -> None:
    """Cold `hubsearch query -k 10` against `-k 1000` and against `-k 10` with the stale
    check, on an index of `docs` documents (and, with `other`, `-k 10` with and without
    the check from another checkout on the same index), interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        _synthetic_corpus(corpus, docs)
        env = {**os.environ, "HUBSEARCH_CACHE": str(Path(tmp) / "cache")}
        subprocess.run([sys.executable, "-m", "hubsearch", "index", "build", str(corpus), "--index", str(index)],
                       env=env, check=True, capture_output=True)
        query = [sys.executable, "-m", "hubsearch", "query", QUERY, "--index", str(index), "--json",
                 "--no-stale-check"]
        checked = [a for a in query if a != "--no-stale-check"] + ["-k", "10"]
        k10, k1000, k10_other, stale, stale_other = [], [], [], [], []
        if other is not None:
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(other / "hubsearch")], check=True)
        for _ in range(runs):  # interleaved
            k10.append(_time(query + ["-k", "10"], ROOT, env))
            k1000.append(_time(query + ["-k", "1000"], ROOT, env))
            stale.append(_time(checked, ROOT, env))
            if other is not None:
                other_env = {**env, "PYTHONPATH": str(other.resolve())}
                k10_other.append(_time(query + ["-k", "10"], other, other_env))
                stale_other.append(_time(checked, other, other_env))
        info = subprocess.run([sys.executable, "-m", "hubsearch", "index", "info", "--json", "--index", str(index)],
                              env=env, capture_output=True, text=True)
        passages = json.loads(info.stdout)["corpus"]["passages"]
    c, d = statistics.median(k10), statistics.median(k1000)
    print(f"### Work per hit ({passages:,} passages; cold `hubsearch query --json --no-stale-check`, median of {runs})\n")
    print("| command | median wall time | vs -k 10 |")
    print("|---|---|---|")
    print(f"| `-k 10` | {c:.3f} s | 1.00x |")
    print(f"| `-k 1000` | {d:.3f} s | {d / c:.2f}x |")
    e = statistics.median(stale)
    print(f"| `-k 10` with the stale check (stats all {docs:,} sources) | {e:.3f} s | {e / c:.2f}x |")
    if k10_other:
        o, f = statistics.median(k10_other), statistics.median(stale_other)
        print(f"| `-k 10`, {other} | {o:.3f} s | {o / c:.2f}x |")
        print(f"| `-k 10` with the stale check, {other} | {f:.3f} s | {f / c:.2f}x |")
    print()


def quality() -> None:
    """Cranfield nDCG@10 with the index built in fp32 and in auto precision."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("fp32", "auto"):
            out = subprocess.run(
                [sys.executable, "-m", "hubsearch", "eval", str(CRANFIELD), "--precision", precision, "--json",
                 "--index", str(Path(tmp) / precision)],
                check=True, capture_output=True, text=True,
            )
            rows.append((precision, json.loads(out.stdout)["collections"][0]))
    print("### Quality of auto precision (Cranfield, full pipeline)\n")
    print("| index precision | build time | hybrid nDCG@10 | dense nDCG@10 | lexical nDCG@10 |")
    print("|---|---|---|---|---|")
    for precision, r in rows:
        res = r["results"]
        print(f"| {precision} ({r['precision']}) | {r['build_seconds']:.1f} s | {res['hybrid']['ndcg@10']:.4f} | "
              f"{res['dense']['ndcg@10']:.4f} | {res['lexical']['ndcg@10']:.4f} |")
    delta = rows[1][1]["results"]["hybrid"]["ndcg@10"] - rows[0][1]["results"]["hybrid"]["ndcg@10"]
    print(f"\nhybrid nDCG@10 change, auto vs fp32: {delta:+.4f}\n")


def synthetic(n: int, d: int = 384, queries: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors shaped like sentence embeddings: a mixture of topics in a 48-d latent
    space, mapped linearly into `d` dimensions with a little full-rank noise. (Uniform noise
    in all 384 dimensions has no neighbourhood structure; no approximate index and no
    real corpus looks like it.) Queries are held-out draws from the same distribution."""
    rng = np.random.default_rng(seed)
    latent = 48
    mixing = rng.standard_normal((latent, d)).astype(np.float32) / np.sqrt(latent)
    topics = rng.standard_normal((max(64, n // 2000), latent)).astype(np.float32)

    def draw(count: int) -> np.ndarray:
        z = topics[rng.integers(0, len(topics), count)] + 0.7 * rng.standard_normal((count, latent), dtype=np.float32)
        v = z @ mixing + 0.05 * rng.standard_normal((count, d), dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    x = np.empty((n, d), dtype=np.float32)
    for lo in range(0, n, 100_000):
        x[lo : min(n, lo + 100_000)] = draw(min(n, lo + 100_000) - lo)
    return x, draw(queries)


def scale(sizes: list[int]) -> None:
    """Latency, memory and recall@10 of each FAISS index type on synthetic vectors."""
    import faiss

    from hubsearch.retrieval.vectors import VectorIndex, choose_type

    print("### FAISS at scale (synthetic clustered 384-d unit vectors, 500 single-vector queries, k=10)\n")
    print("| passages | index type | auto picks | build | memory | p50 | p99 | recall@10 vs exact |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        x, q = synthetic(n)
        auto = choose_type(n, x.shape[1])
        truth = None
        for kind in ("flat", "hnsw", "ivf-sq8", "ivf-pq"):
            if kind == "hnsw" and n > 200_000 and auto != "hnsw":
                continue  # hours of graph building on two cores; not what auto picks at this size
            start = time.perf_counter()
            index = VectorIndex.build(x, kind)
            built = time.perf_counter() - start
            memory = faiss.serialize_index(index.index).nbytes
            latencies, results = [], []
            for row in q:
                t = time.perf_counter()
                _, ids = index.search(row[None], 10)
                latencies.append(time.perf_counter() - t)
                results.append(ids[0])
            if kind == "flat":
                truth = results
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(results, truth)]))
            print(f"| {n:,} | {kind} | {'yes' if kind == auto else ''} | {built:.1f} s | {memory / 2**20:,.0f} MiB | "
                  f"{np.percentile(latencies, 50) * 1e3:.2f} ms | {np.percentile(latencies, 99) * 1e3:.2f} ms | {recall:.3f} |",
                  flush=True)
            del index
        del x, q
    print()


if __name__ == "__main__":
    main()
