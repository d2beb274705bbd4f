"""Stitched speech recognition on real checkpoints: Whisper tiny.en's encoder read by Whisper base's decoder, and
back, through sequence translators; word error rate on held-out spoken BBC titles.

Data: `spoken_bbc` (SYNTHETIC speech: every BBC News title spoken by espeak-ng, four English voices x three rates).
A seeded permutation of the 2,225 articles: the first 100 are held out (their clips are never anchors), the next
1,024 are the anchor pool; N anchor clips are its first N (nested), N in {16, 64, 256, 1,024}. Frames: every layer
of both encoders for every clip (1,500 frames per clip, float16 on disk under the cache), computed once; the
post-LayerNorm frames equal `Encoder.encode_frames` (checked at start).

Rows (both directions, source -> target; the target's own decoder generates, greedy, `Decoder.generate`):
- native: each model on its own frames; controls: the target decoder fed the mean anchor frame, or the source frames
  zero-padded / truncated to the target's width (untranslated).
- frame-level fits (clips alone): ridge (`linear`), `orthogonal`, ridge with +-1 / +-3 frames of context, ridge
  fitted before the source's final LayerNorm into the target's pre-LayerNorm frames and the target's LayerNorm
  re-applied, stitching at depth (into the input of the target's last encoder layer, which then runs), a residual
  MLP with +-1 frames of context (N = 256).
- tuned by the target decoder's loss (`refine_with_decoder`, 3 epochs, lr 1e-3, from the ridge map): on the anchors'
  transcripts, and from clips alone on the target model's own transcription of the anchor clips.
- adaptation control (N = 256): the same tuning of an identity map on the source's own frames and decoder: how much
  of a tuned row's gain is the decoder adapting to espeak-ng speech rather than the stitch.
- throughput: frames per second of the stitched pipeline's encoding (encoder + translator) against the native
  encoder, 32 clips, alternated in one process.

WER: jiwer with Whisper's English text normaliser (whisper-normalizer). Run:
    pip install -e ".[bench]" && python benchmarks/bench_generation.py [--ns 16 64 256 1024] [--heldout 100]
Writes results/bench_generation.{json,md} and results/generation.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger("bench_generation")
RESULTS = Path(__file__).parent / "results"
TINY, BASE = "hubstitch/whisper-tiny.en-ct2", "hubstitch/whisper-base-ct2"
SHORT = {TINY: "tiny.en", BASE: "base"}
LAYERS = {TINY: 4, BASE: 6}
EPOCHS, LR = 3, 1e-3
MAX_NEW_TOKENS = 64  # the longest title is ~30 tokens; a looping control stops here instead of at 444


def cache_dir() -> Path:
    from hubstitch.data.latent_cache import default_cache_dir

    return Path(os.environ.get("HUBSTITCH_BENCH_FRAMES") or default_cache_dir() / "bench-generation")


@torch.inference_mode()
def all_states(encoder, features: torch.Tensor) -> torch.Tensor:
    """(batch, layers + 2, frames, d): the embedded input, every layer's output, and the final LayerNorm's."""
    model = encoder.model
    x = torch.nn.functional.gelu(model.conv1(features))
    x = torch.nn.functional.gelu(model.conv2(x)).permute(0, 2, 1) + model.embed_positions.weight
    out = [x]
    for layer in model.layers:
        x = layer(x, None)
        x = x[0] if isinstance(x, tuple) else x
        out.append(x)
    out.append(model.layer_norm(x))
    return torch.stack(out, 1)


def encode_all(encoders: dict, clips, rows: list[int]) -> None:
    """Every layer's frames of `rows` for both models, cached one file per clip (float16)."""
    from huggingface_hub.utils import tqdm

    from hubstitch.encoders.audio import to_waveform

    root = cache_dir()
    todo = [r for r in rows if not (root / "base" / f"{r}.npy").is_file()]
    for key in ("tiny", "base", "len"):
        (root / key).mkdir(parents=True, exist_ok=True)
    for start in tqdm(range(0, len(todo), 8), desc="encoding every layer of both models"):
        chunk = todo[start:start + 8]
        waves = [to_waveform(clips[r], r, 16000) for r in chunk]
        for key, encoder in encoders.items():
            features = encoder.processor(waves, sampling_rate=16000, return_tensors="pt", return_attention_mask=True)
            states = all_states(encoder, features.input_features).half().numpy()
            for j, r in enumerate(chunk):
                np.save(root / key / f"{r}.npy", states[j])
        lengths = features.attention_mask.sum(1) // 2
        for j, r in enumerate(chunk):
            np.save(root / "len" / f"{r}.npy", np.array(int(lengths[j])))


def frames(key: str, rows: list[int], state: int = -1) -> torch.Tensor:
    root = cache_dir()
    return torch.stack([torch.from_numpy(np.load(root / key / f"{r}.npy", mmap_mode="r")[state].astype(np.float32))
                        for r in rows])


def masks(rows: list[int]) -> torch.Tensor:
    lengths = [int(np.load(cache_dir() / "len" / f"{r}.npy")) for r in rows]
    return (torch.arange(1500)[None, :] < torch.tensor(lengths)[:, None]).long()


def wer(references: list[str], hypotheses: list[str]) -> float:
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()
    pairs = [(normalize(r), normalize(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h) for r, h in pairs if r.strip()]
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


def run_layers(encoder, x: torch.Tensor, start: int) -> torch.Tensor:
    """The target's encoder layers from `start` on, then its final LayerNorm."""
    with torch.inference_mode():
        for layer in encoder.model.layers[start:]:
            x = layer(x, None)
            x = x[0] if isinstance(x, tuple) else x
        return encoder.model.layer_norm(x)


def direction(source_id: str, target_id: str, encoders: dict, decoders: dict, texts: list[str], held: list[int],
              pool: list[int], ns: list[int], out: list[dict], write) -> None:
    from hubstitch.decoders.tuning import refine_with_decoder
    from hubstitch.translators.sequence import fit_sequence_translator

    s, t = SHORT[source_id].replace(".en", ""), SHORT[target_id].replace(".en", "")
    decoder, references = decoders[t], [texts[r] for r in held]
    tgt = encoders[t]
    held_source = frames(s, held)
    label = f"{SHORT[source_id]} -> {SHORT[target_id]}"

    def record(n: int, route: str, states: torch.Tensor, seconds: float, **extra) -> None:
        start = time.perf_counter()
        hypotheses = decoder.generate(states, batch_size=16, max_new_tokens=MAX_NEW_TOKENS)
        row = {"direction": label, "n": n, "route": route, "wer": round(wer(references, hypotheses), 4),
               "fit_s": round(seconds, 1), "decode_s": round(time.perf_counter() - start, 1),
               "example": hypotheses[0], **extra}
        out.append(row)
        logger.info("%s N=%s %-44s WER %.3f", label, n, route, row["wer"])
        write()

    width = (held_source.shape[2], tgt.dim)
    padded = torch.nn.functional.pad(held_source, (0, max(0, width[1] - width[0])))[..., :width[1]]
    record(0, "control: untranslated (zero-padded / truncated)", padded, 0.0)
    for n in ns:
        rows = pool[:n]
        x, y, mask = frames(s, rows), frames(t, rows), masks(rows)
        m = mask.bool()
        mean = y[m].mean(0)
        record(n, "control: the mean anchor frame", mean.expand(len(held), 1500, -1).contiguous(), 0.0)
        fits = {"ridge": dict(method="linear"), "orthogonal": dict(method="orthogonal")}
        if n >= 256:
            fits.update({"ridge, context +-1": dict(method="linear", context=1),
                         "ridge, context +-3": dict(method="linear", context=3)})
        if n == 256:
            fits["mlp, context +-1"] = dict(method="mlp", context=1, max_epochs=30, patience=5)
        ridge = None
        for route, options in fits.items():
            start = time.perf_counter()
            translator = fit_sequence_translator(x, y, mask, seed=0, **options)
            seconds = time.perf_counter() - start
            ridge = translator if route == "ridge" else ridge
            record(n, f"frames: {route}", translator(held_source), seconds)
        if n >= 256:  # before the source's final LayerNorm, into the target's, whose LayerNorm is re-applied
            pre = fit_sequence_translator(frames(s, rows, LAYERS[source_id]), frames(t, rows, LAYERS[target_id]),
                                          mask, method="linear")  # the frames are read again: one pair in memory
            with torch.inference_mode():
                out_states = tgt.model.layer_norm(pre(frames(s, held, LAYERS[source_id])))
            record(n, "frames: ridge before LayerNorm, target LayerNorm", out_states, 0.0)
            depth = fit_sequence_translator(x, frames(t, rows, LAYERS[target_id] - 1), mask, method="linear")
            record(n, "frames: at depth, + the target's last layer", run_layers(tgt, depth(held_source),
                                                                               LAYERS[target_id] - 1), 0.0)
        for source_of_text in ("given", "target-model"):
            if source_of_text == "given":
                transcripts = [texts[r] for r in rows]
            else:
                transcripts = decoder.generate(y, batch_size=16, max_new_tokens=MAX_NEW_TOKENS)
            keep = [i for i, text in enumerate(transcripts) if text.strip()]
            start = time.perf_counter()
            tuned = refine_with_decoder(ridge, x[keep], [transcripts[i] for i in keep], decoder, epochs=EPOCHS, lr=LR,
                                        transcript_source=source_of_text)
            seconds = time.perf_counter() - start
            name = "transcripts" if source_of_text == "given" else "clips alone: the target model's transcription"
            record(n, f"tuned by the decoder's loss ({name})", tuned(held_source), seconds,
                   loss_per_epoch=tuned.config.refinement["loss_per_epoch"])
        if n == 256:  # how much of the gain is the decoder adapting to espeak-ng: the same tuning, no stitch
            identity = fit_sequence_translator(x, x, mask, method="linear", alpha=1e-6)
            source_decoder = decoders[s]
            adapted = refine_with_decoder(identity, x, [texts[r] for r in rows], source_decoder, epochs=EPOCHS, lr=LR)
            hypotheses = source_decoder.generate(adapted(held_source), batch_size=16,
                                                 max_new_tokens=MAX_NEW_TOKENS)
            out.append({"direction": label, "n": n, "route": f"control: {SHORT[source_id]} natively, its own frames "
                        f"tuned the same way (adaptation)", "wer": round(wer(references, hypotheses), 4)})
            logger.info("%s N=%s adaptation control WER %.3f", label, n, out[-1]["wer"])
            write()


def throughput(encoders: dict, translator, clips: list) -> dict:
    """Frames per second: the native encoder against encoder + translator, alternated, 3 rounds."""
    native, stitched = [], []
    for _ in range(3):
        start = time.perf_counter()
        states, _ = encoders["tiny"].encode_frames(clips, progress=False)
        native.append(time.perf_counter() - start)
        start = time.perf_counter()
        states, _ = encoders["tiny"].encode_frames(clips, progress=False)
        translator(states)
        stitched.append(time.perf_counter() - start)
    frames_total = 1500 * len(clips)
    return {"clips": len(clips), "native_frames_per_s": round(frames_total / min(native)),
            "stitched_frames_per_s": round(frames_total / min(stitched)),
            "ratio": round(min(native) / min(stitched), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ns", type=int, nargs="+", default=[16, 64, 256, 1024])
    parser.add_argument("--heldout", type=int, default=100)
    parser.add_argument("--directions", choices=["both", "tiny-to-base", "base-to-tiny"], default="both")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    from datasets import load_from_disk

    from hubstitch.decoders.decoder import Decoder
    from hubstitch.encoders.encoder import Encoder
    from hubstitch.shelf.datasets import install_datasets
    from hubstitch.shelf.models import install_shelf

    install_shelf([TINY, BASE])
    data = load_from_disk(str(install_datasets(["spoken_bbc"])["spoken_bbc"]))
    texts, clips = data["text"], data["audio"]
    order = np.random.default_rng(0).permutation(len(data)).tolist()
    held, pool = sorted(order[:args.heldout]), order[100:100 + max(args.ns)]
    encoders = {"tiny": Encoder.from_pretrained(TINY), "base": Encoder.from_pretrained(BASE)}
    decoders = {"tiny": Decoder.from_pretrained(TINY), "base": Decoder.from_pretrained(BASE, language="en",
                                                                                        task="transcribe")}
    encode_all(encoders, clips, held + pool)
    check, _ = encoders["tiny"].encode_frames([clips[r] for r in held[:2]], progress=False)
    assert torch.allclose(check, frames("tiny", held[:2]), atol=2e-2), "cached frames differ from encode_frames"
    results: dict = {"setup": {"heldout_clips": len(held), "anchor_pool": len(pool), "ns": args.ns, "epochs": EPOCHS,
                               "lr": LR, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                               "torch": torch.__version__}, "rows": []}
    pairs = {"tiny-to-base": [(TINY, BASE)], "base-to-tiny": [(BASE, TINY)],
             "both": [(TINY, BASE), (BASE, TINY)]}[args.directions]
    previous = RESULTS / "bench_generation.json"
    if args.directions != "both" and previous.is_file():  # one direction rerun: the other's rows are kept
        rerun = {f"{SHORT[s]} -> {SHORT[t]}" for s, t in pairs}
        results["rows"] = [r for r in json.loads(previous.read_text())["rows"]
                           if r["direction"] not in rerun and r["route"] != "native"]

    def write() -> None:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "bench_generation.json").write_text(json.dumps(results, indent=1) + "\n")

    references = [texts[r] for r in held]
    for position, (key, model_id) in enumerate((("tiny", TINY), ("base", BASE))):
        hypotheses = decoders[key].generate(frames(key, held), batch_size=16, max_new_tokens=MAX_NEW_TOKENS)
        results["rows"].insert(position, {"direction": f"{SHORT[model_id]} natively", "n": 0, "route": "native",
                                          "wer": round(wer(references, hypotheses), 4), "example": hypotheses[0]})
        logger.info("native %s WER %.3f", key, results["rows"][position]["wer"])
    write()
    for source_id, target_id in pairs:
        direction(source_id, target_id, encoders, decoders, texts, held, pool, args.ns, results["rows"], write)
    from hubstitch.translators.sequence import fit_sequence_translator

    rows = pool[:256]
    translator = fit_sequence_translator(frames("tiny", rows), frames("base", rows), masks(rows))
    results["throughput"] = throughput(encoders, translator, [clips[r] for r in held[:32]])
    write()
    table(results)
    plot(results)


def table(results: dict) -> None:
    lines = ["| direction | N clips | route | WER |", "|---|---|---|---|"]
    for row in results["rows"]:
        lines.append(f"| {row['direction']} | {row['n'] or '-'} | {row['route']} | {row['wer']:.3f} |")
    if "throughput" in results:
        t = results["throughput"]
        lines += ["", f"Encoding throughput, {t['clips']} clips: native tiny.en {t['native_frames_per_s']:,} "
                  f"frames/s, stitched (tiny.en + translator) {t['stitched_frames_per_s']:,} frames/s: "
                  f"{t['ratio']:.2f}x"]
    text = "\n".join(lines) + "\n"
    (RESULTS / "bench_generation.md").write_text(text)
    sys.stdout.write(text)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    natives = {row["direction"].split()[0]: row["wer"] for row in results["rows"] if row["route"] == "native"}
    routes = sorted({r["route"].replace("tiny.en natively", "the source natively").replace(
        "base natively", "the source natively") for r in results["rows"] if r["n"]})
    colours = {route: plt.get_cmap("tab20")(i % 20) for i, route in enumerate(routes)}
    for ax, label in zip(axes, ("tiny.en -> base", "base -> tiny.en"), strict=True):
        rows = [{**r, "route": r["route"].replace("tiny.en natively", "the source natively").replace(
            "base natively", "the source natively")} for r in results["rows"] if r["direction"] == label and r["n"]]
        for route in sorted({r["route"] for r in rows}):
            points = sorted((r["n"], r["wer"]) for r in rows if r["route"] == route)
            style = "-o" if "tuned" in route else (":s" if "control" in route else "--^")
            ax.plot([p[0] for p in points], [min(p[1], 1.5) for p in points], style, label=route, markersize=5,
                    color=colours[route])
        for name, value in natives.items():
            ax.axhline(value, color="black" if name == label.split()[0] else "grey", linewidth=0.8)
            ax.text(0.01, value, f" native {name}", fontsize=7, va="bottom", transform=ax.get_yaxis_transform())
        ax.set_xscale("log", base=2)
        ax.set_xlim(12, 1400)
        ax.set_title(f"{label} (the target's decoder)", fontsize=10)
        ax.set_xlabel("anchor clips")
    axes[0].set_ylabel("WER, 100 held-out spoken titles (cap 1.5)")
    handles: dict = {}
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(name, handle)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=2, fontsize=7)
    fig.tight_layout(rect=(0, 0.3, 1, 1))
    fig.savefig(RESULTS / "generation.png", dpi=120)


if __name__ == "__main__":
    main()
