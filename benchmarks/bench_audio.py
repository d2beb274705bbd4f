"""Audio on real checkpoints from the offline shelf: spoken BBC titles -> a text topic head, and Whisper <-> Whisper.

Data: `spoken_bbc` and `spoken_bbc_leads` (SYNTHETIC speech: every BBC News article's title, and its lead sentence,
spoken by espeak-ng, four voices x three rates), the same stratified 60/40 split of the articles as bench_stitching
(seed 0; 1,336 / 889 articles). Anchor pairs and probe clips come from the training articles' titles and leads
(2,672 clips); the test clips are the test articles' spoken titles. Encoders: Whisper tiny.en and base (converted
from CTranslate2 on the shelf; `mean` over the frames the clip covers) and all-MiniLM-L6-v2.

1. audio -> text: a linear head trained ONLY on MiniLM latents of the training articles' full text (the BBC topic
   head of bench_stitching); spoken test titles go Whisper -> translator -> that head. The translator is fitted
   with the defaults (`auto`) on N anchor pairs (a training clip, the MiniLM latent of its text). Beside:
   a linear probe (the same head class) trained on the same N labelled clips' Whisper latents (the fair ceiling
   for N labels), the text head on the test titles' own MiniLM latents (what the text side can do with a title),
   and chance (0.2). N in {100, 500, 1000, 2000, 2672 (every training clip)}, 3 draws (1 at 2,672).
2. audio <-> audio: tiny.en <-> base, both directions; a head trained on the target's training clips, the source's
   test clips through a translator fitted on N clip pairs; stitched / native.
3. Encoding throughput: `Encoder.encode` (reading WAV bytes, resampling, log-mel, forward, pooling) against a bare
   encoder forward on precomputed features, 64 clips, alternated in one process.

Run:  python benchmarks/bench_audio.py [--draws 3] [--models both|tiny.en|base]
Needs: `hubstitch shelf install` (run by this script; espeak-ng for the spoken data), matplotlib.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from bench_stitching import HEAD_OPTIONS, MAX_LENGTH, MINILM, accuracy, encode_cached, stratified_split

logger = logging.getLogger("bench_audio")
RESULTS = Path(__file__).parent / "results"
TINY, BASE = "hubstitch/whisper-tiny.en-ct2", "hubstitch/whisper-base-ct2"
SHORT = {TINY: "tiny.en", BASE: "base", MINILM: "MiniLM"}
NS = (100, 500, 1000, 2000)


def latents(shelf_data, cache, models=(TINY, BASE)) -> dict:
    from hubstitch.data.anchors import AnchorSet
    from hubstitch.encoders.encoder import Encoder

    spoken = [AnchorSet.load(str(shelf_data[name]), source_column="audio", target_column="text",
                             label_column="label") for name in ("spoken_bbc", "spoken_bbc_leads")]
    articles = AnchorSet.load(str(shelf_data["bbc_news"]), source_column="text", label_column="label")
    out = {"models": list(models)}
    for model_id in models:  # rows: the 2,225 titles' clips, then the 2,225 leads' clips
        encoder = Encoder.from_pretrained(model_id, local_files_only=True)
        start = time.perf_counter()
        out[model_id] = torch.cat([encode_cached(encoder, clips, "audio", cache) for clips in spoken])
        logger.info("%s: %s clip latents in %.1f s", SHORT[model_id], tuple(out[model_id].shape),
                    time.perf_counter() - start)
    text = Encoder.from_pretrained(MINILM, local_files_only=True)
    text.max_length = MAX_LENGTH
    out["spoken_text"] = torch.cat([cache.get_or_encode(text.ref, clips.provenance.fingerprint, "text", clips.rows(),
                                                        lambda c=clips: text.encode(c.target_items(), batch_size=32))
                                    for clips in spoken])
    out["articles"] = encode_cached(text, articles, f"text[max_length={MAX_LENGTH}]", cache)
    names = sorted(set(articles.labels()))
    out["labels"] = torch.tensor([names.index(label) for label in articles.labels()])
    out["names"] = names
    return out


def split(data: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training articles, test articles (rows of the titles), and the anchor pool: the training articles' titles and
    leads (rows of the clips)."""
    train, test = stratified_split(data["labels"], 0.6, seed=0)
    return train, test, torch.cat([train, train + len(data["labels"])])


def sizes(pool: torch.Tensor) -> list[int]:
    return [n for n in NS if n < len(pool)] + [len(pool)]


def audio_to_text(data: dict, draws: int) -> list[dict]:
    import hubstitch
    from hubstitch.heads.head import ClassifierHead

    labels = data["labels"]
    train, test, pool = split(data)
    pool_labels = torch.cat([labels, labels])
    head = ClassifierHead.fit(data["articles"][train], labels[train], label_names=data["names"], seed=0,
                              **HEAD_OPTIONS)
    title_text = accuracy(head, data["spoken_text"][test], labels[test])
    rows = []
    for model_id in data["models"]:
        x = data[model_id]
        for n in sizes(pool):
            stitched, probe, chosen = [], [], []
            for draw in range(draws if n < len(pool) else 1):
                anchors = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(draw))[:n]]
                translator = hubstitch.fit_translator(x[anchors], data["spoken_text"][anchors], seed=draw)
                chosen.append(translator.config.method)
                with torch.no_grad():
                    stitched.append(accuracy(head, translator(x[test]), labels[test]))
                probe_head = ClassifierHead.fit(x[anchors], pool_labels[anchors], label_names=data["names"],
                                                seed=draw, **HEAD_OPTIONS)
                probe.append(accuracy(probe_head, x[test], labels[test]))
            rows.append({"source": SHORT[model_id], "n": n, "stitched": statistics.fmean(stitched),
                         "probe": statistics.fmean(probe), "of_probe": statistics.fmean(stitched) /
                         statistics.fmean(probe), "text_head_on_title_text": title_text, "chance": 0.2,
                         "draws": len(stitched), "auto_chose": sorted(set(chosen))})
            logger.info("%s", rows[-1])
    return rows


def audio_to_audio(data: dict, draws: int) -> list[dict]:
    import hubstitch
    from hubstitch.heads.head import ClassifierHead

    labels = data["labels"]
    train, test, pool = split(data)
    pool_labels = torch.cat([labels, labels])
    rows = []
    for source, target in ((TINY, BASE), (BASE, TINY)) if len(data["models"]) == 2 else ():
        xs, xt = data[source], data[target]
        head = ClassifierHead.fit(xt[pool], pool_labels[pool], label_names=data["names"], seed=0, **HEAD_OPTIONS)
        native = accuracy(head, xt[test], labels[test])
        for n in sizes(pool):
            stitched = []
            for draw in range(draws if n < len(pool) else 1):
                anchors = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(draw))[:n]]
                translator = hubstitch.fit_translator(xs[anchors], xt[anchors], seed=draw)
                with torch.no_grad():
                    stitched.append(accuracy(head, translator(xs[test]), labels[test]))
            rows.append({"pair": f"{SHORT[source]} -> {SHORT[target]}", "n": n, "native": native,
                         "stitched": statistics.fmean(stitched), "of_native": statistics.fmean(stitched) / native})
            logger.info("%s", rows[-1])
    return rows


def throughput(shelf_data, models=(TINY, BASE), clips: int = 64, rounds: int = 3) -> list[dict]:
    from datasets import load_from_disk

    from hubstitch.encoders.audio import to_waveform
    from hubstitch.encoders.encoder import Encoder

    cells = load_from_disk(str(shelf_data["spoken_bbc"]))["audio"][:clips]
    rows = []
    for model_id in models:
        encoder = Encoder.from_pretrained(model_id, local_files_only=True)
        waves = [to_waveform(c, i, 16000) for i, c in enumerate(cells)]
        features = encoder.processor(waves, sampling_rate=16000, return_tensors="pt").input_features
        full, bare = [], []
        for _ in range(rounds):  # alternated: the machine's noise hits both alike
            start = time.perf_counter()
            encoder.encode(cells, batch_size=16, progress=False)
            full.append(time.perf_counter() - start)
            start = time.perf_counter()
            with torch.inference_mode():
                for i in range(0, clips, 16):
                    encoder.model(input_features=features[i:i + 16])
            bare.append(time.perf_counter() - start)
        rows.append({"model": SHORT[model_id], "clips": clips, "encode_clips_per_s": clips / min(full),
                     "bare_forward_clips_per_s": clips / min(bare), "overhead": min(full) / min(bare)})
        logger.info("%s", rows[-1])
    return rows


def table(result: dict) -> str:
    lines = ["### spoken BBC title -> text topic head (zero-shot; accuracy, fraction of the probe in brackets; "
             "anchors and probe clips: training articles' spoken titles and leads)", "",
             "| clips from | N anchor pairs | stitched (auto) | linear probe on N labelled clips | text head on the "
             "titles' text | chance |", "|---|---|---|---|---|---|"]
    lines += [f"| Whisper {r['source']} | {r['n']} | {r['stitched']:.3f} ({r['of_probe']:.2f}) | {r['probe']:.3f} | "
              f"{r['text_head_on_title_text']:.3f} | {r['chance']:.1f} |" for r in result["audio_to_text"]]
    lines += ["", "### Whisper <-> Whisper (test: spoken titles; head on the target's training clips, titles and "
                  "leads; stitched / native)", "",
              "| pair | N | native | stitched |", "|---|---|---|---|"]
    lines += [f"| {r['pair']} | {r['n']} | {r['native']:.3f} | {r['stitched']:.3f} ({r['of_native']:.3f}) |"
              for r in result["audio_to_audio"]]
    lines += ["", "### Encoding throughput (64 clips, batches of 16, best of 3, alternated)", "",
              "| model | Encoder.encode clips/s | bare encoder forward clips/s | encode / bare time |",
              "|---|---|---|---|"]
    lines += [f"| Whisper {r['model']} | {r['encode_clips_per_s']:.1f} | {r['bare_forward_clips_per_s']:.1f} | "
              f"{r['overhead']:.2f} |" for r in result["throughput"]]
    return "\n".join(lines) + "\n"


def plot(result: dict, out: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for source, marker in (("tiny.en", "o"), ("base", "s")):
        rows = [r for r in result["audio_to_text"] if r["source"] == source]
        if not rows:
            continue
        ax.plot([r["n"] for r in rows], [r["stitched"] for r in rows], marker + "-", label=f"{source}: stitched")
        ax.plot([r["n"] for r in rows], [r["probe"] for r in rows], marker + ":", label=f"{source}: probe")
    ax.axhline(result["audio_to_text"][0]["text_head_on_title_text"], color="k", ls="--",
               label="text head on the titles' text")
    ax.axhline(0.2, color="r", ls=":", label="chance")
    ax.set(xscale="log", xlabel="anchor pairs N", ylabel="accuracy", title="spoken BBC title -> text topic head")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "audio.png"
    fig.savefig(path, dpi=110)
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--models", choices=("both", "tiny.en", "base"), default="both",
                        help="which Whisper encodes the clips (each of 2,225 clips is a 30 s window: tiny.en takes "
                             "~0.25 s a clip on 2 cores, base twice that)")
    args = parser.parse_args(argv)
    models = {"both": (TINY, BASE), "tiny.en": (TINY,), "base": (BASE,)}[args.models]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from hubstitch.data.latent_cache import LatentCache
    from hubstitch.shelf.datasets import install_datasets
    from hubstitch.shelf.models import install_shelf

    install_shelf([TINY, BASE, MINILM])
    shelf_data = install_datasets(["bbc_news", "spoken_bbc", "spoken_bbc_leads"])
    start = time.perf_counter()
    data = latents(shelf_data, LatentCache(), models)
    result = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                          "cpu_threads": torch.get_num_threads()},
              "audio_to_text": audio_to_text(data, args.draws), "audio_to_audio": audio_to_audio(data, args.draws),
              "throughput": throughput(shelf_data, models),
              "settings": {"draws": args.draws, "split": "stratified 60/40, seed 0",
                           "speech": "espeak-ng (synthetic)"}}
    result["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_audio.json").write_text(json.dumps(result, indent=1) + "\n")
    result["plot"] = plot(result, args.out)
    report = table(result)
    (args.out / "bench_audio.md").write_text(report)
    sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
