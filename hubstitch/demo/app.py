"""The Gradio app: predict through stitched pipelines, fit translators, and look at why stitching works.

`build_demo` returns a `gr.Blocks` with five tabs (Predict, Search, Transcribe, Fit, Inspect); nothing launches on
import. The offline default is the model shelf: MobileNetV2 -> translator -> a MiniLM-space text classifier that never
saw an image; Search queries an MPNet index of BBC News with MiniLM through a translator; Transcribe runs a clip
through Whisper tiny.en, Whisper base, and tiny.en's encoder stitched to base's decoder.
``spaces_demo/app.py`` and ``hubstitch demo`` launch it.

Example:
    >>> from hubstitch.demo.app import build_demo  # doctest: +SKIP
    >>> build_demo(workspace="demo-workspace").launch()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from ..encoders.encoder import MAX_IMAGE_PIXELS
from ..errors import HubstitchError, HubstitchValueError
from ..spaces import IncompatibleStagesError
from .search import DemoSearch
from .stages import DEFAULT_PIPELINE, ENCODERS, HEADS, NO_TRANSLATOR, TRANSLATORS, DemoStages
from .transcribe import STITCHED, DemoTranscriber

logger = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_TEXT_CHARS = 20_000
MAX_AUDIO_BYTES = 20 * 1024 * 1024
EXAMPLES = Path(__file__).parent / "assets"
FIT_DATASETS = {"Fashion-MNIST images + class captions (image -> text)": "fashion",
                "product descriptions + captions (text -> text)": "texts"}
METHODS = ["auto", "orthogonal", "linear", "affine", "mlp"]


def default_workspace() -> Path:
    from ..data.latent_cache import default_cache_dir

    return default_cache_dir() / "demo"


# --- input checks: clear messages instead of crashes ---------------------------------------------------------
def _check_upload(path: str | None, limit: int, missing: str, what: str, fix: str) -> None:
    """`gr.Error` for a missing upload (`missing`) or one over `limit` bytes (naming its size, the limit, `fix`)."""
    import gradio as gr

    if not path:
        raise gr.Error(missing)
    size = os.path.getsize(path)
    if size > limit:
        raise gr.Error(f"{what} is {size / 2**20:.1f} MB; the limit is {limit // 2**20} MB. {fix}")


def load_image(path: str | None):
    """The uploaded file as an RGB PIL image, or `gr.Error` naming what is wrong with it."""
    import gradio as gr
    from PIL import Image, UnidentifiedImageError

    _check_upload(path, MAX_IMAGE_BYTES, "No image: upload one (PNG or JPEG), or type a text for a text encoder.",
                  "The image", "Upload a smaller file.")
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:  # before decoding: a small file can be huge
                raise gr.Error(f"The image is {image.width} x {image.height} pixels; the limit is "
                               f"{MAX_IMAGE_PIXELS:,} pixels. Upload a smaller one.")
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise gr.Error(f"{Path(path).name} is not an image PIL can read ({err.__class__.__name__}); "
                       f"upload a PNG or JPEG.") from None


def preview_image(path: str | None):
    """The upload, enlarged for the eye when it is tiny (Fashion-MNIST is 28 x 28), or None."""
    if not path:
        return None
    image = load_image(path)
    scale = max(1, 160 // max(image.size))
    return image.resize((image.width * scale, image.height * scale), 0) if scale > 1 else image  # 0: nearest


def check_text(text: str | None) -> str:
    import gradio as gr

    if text is None or not text.strip():
        raise gr.Error("The text is empty: type a sentence, or upload an image for an image encoder.")
    if len(text) > MAX_TEXT_CHARS:
        raise gr.Error(f"The text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}. Shorten it.")
    return text.strip()


def load_audio(path: str | None):
    """The uploaded or recorded clip as ``(float32 samples, sampling rate)``, or `gr.Error` naming what is wrong."""
    import gradio as gr

    _check_upload(path, MAX_AUDIO_BYTES, "No audio: upload a WAV / FLAC clip or record one with the microphone.",
                  "The clip", "Upload a shorter one.")
    try:
        import soundfile

        samples, rate = soundfile.read(path, dtype="float32", always_2d=False)
    except ImportError:
        raise gr.Error("Reading audio needs soundfile: pip install 'hubstitch[audio]'.") from None
    except (RuntimeError, OSError) as err:  # soundfile's LibsndfileError is a RuntimeError
        raise gr.Error(f"{Path(path).name} is not audio soundfile can read ({err}); upload a WAV or FLAC "
                       f"clip.") from None
    if samples.size == 0:
        raise gr.Error(f"{Path(path).name} holds no samples; record or upload a clip with sound in it.")
    return samples, int(rate)


def _as_label(top: list[dict[str, Any]]) -> dict[str, float]:
    return {p["label"]: p["score"] for p in top}


def _input_for(pipeline, image_path: str | None, text: str | None, audio_path: str | None = None):
    import gradio as gr

    modality = pipeline.encoder.ref.modality
    if modality == "image":
        return load_image(image_path)
    if modality == "text":
        return check_text(text)
    if modality == "audio":
        return load_audio(audio_path)
    raise gr.Error(f"encoder modality {modality!r} is not supported by the demo; expected image, text or audio")


def _run(stages, pipeline, item, top_k: int) -> dict[str, float]:
    """The pipeline's top-k labels; an input the encoder refuses (a clip longer than Whisper's 30 s) is said."""
    import gradio as gr

    try:
        return _as_label(stages.run(pipeline, item, top_k))
    except HubstitchValueError as err:
        raise gr.Error(f"The {pipeline.encoder.ref.modality} input was refused: {err}") from None


# --- the app -----------------------------------------------------------------------------------------------------
def build_demo(workspace: str | Path | None = None, n_anchors: int = 1000, concurrency_limit: int = 4,
               results_json: str | Path | None = None, cache_examples: bool = True,
               local_files_only: bool | None = None, hub_cache: str | Path | None = None,
               datasets_dir: str | Path | None = None, warm_up: bool = True, allow_local_paths: bool = True,
               require_login: bool | None = None, speech_anchors: int = 256):
    """The Blocks app. `workspace` keeps the demo's fitted stages; `n_anchors` sizes its default translator;
    `hub_cache` and `datasets_dir` say where the model shelf and its data live (default: the usual caches);
    `allow_local_paths=False` (a public Space) lets visitors name Hub ids only, never folders of the server;
    `require_login` (default: on a Space, ``$SPACE_ID`` set) makes a push use the visitor's own Hugging Face sign-in
    (``hf_oauth``) and refuses it without one, so nobody pushes with the server's token; `speech_anchors` sizes the
    Transcribe tab's stitched translator (spoken clips, fitted on first use)."""
    import gradio as gr

    stages = DemoStages(workspace or default_workspace(), n_anchors=n_anchors, local_files_only=local_files_only,
                        hub_cache=hub_cache, datasets_dir=datasets_dir, allow_local_paths=allow_local_paths)
    index = DemoSearch(stages)
    speech = DemoTranscriber(stages, n_clips=speech_anchors)
    if require_login is None:
        require_login = bool(os.environ.get("SPACE_ID"))
    results = Path(results_json) if results_json else Path(__file__).parent / "assets" / "bench_stitching.json"

    def predict_pipeline(name: str, image_path: str | None, text: str | None, top_k: float = 3,
                         audio_path: str | None = None):
        try:
            pipeline = stages.pipeline(name)
        except (HubstitchError, OSError, ValueError) as err:
            raise gr.Error(f"Could not load pipeline {name!r}: {err}") from None
        item = _input_for(pipeline, image_path, text, audio_path)
        return _run(stages, pipeline, item, int(top_k))

    def predict_composed(encoder: str, translator: str, head: str, image_path: str | None, text: str | None,
                         top_k: float = 3, audio_path: str | None = None, session: dict | None = None):
        fitted_here = (session or {}).get("translators", {})
        try:
            pipeline = stages.compose(encoder, fitted_here.get(translator, translator), head)
        except IncompatibleStagesError as err:  # names the mismatch
            raise gr.Error(f"These stages do not fit together: {err}") from None
        except (HubstitchError, OSError, ValueError) as err:
            raise gr.Error(f"Could not load the stages: {err}") from None
        item = _input_for(pipeline, image_path, text, audio_path)
        stitched = _run(stages, pipeline, item, int(top_k))
        native, note = {}, ""
        try:
            reference = stages.native(head)
        except HubstitchError as err:
            reference, note = None, f"native comparison unavailable: {err}"
        if reference is not None and reference.encoder.ref.modality == pipeline.encoder.ref.modality:
            native = _run(stages, reference, item, int(top_k))
            note = f"native: the same input through the head's own encoder ({reference.encoder.ref.model_id})"
        elif not note:
            head_encoder = stages.head(head).config.encoder
            note = (f"no native comparison: the head's own encoder ({head_encoder.model_id}) reads "
                    f"{head_encoder.modality or 'another modality'}, this input is {pipeline.encoder.ref.modality}")
        return stitched, native, note

    def transcribe(audio_path: str | None):
        clip = load_audio(audio_path)
        try:
            answers = speech.transcribe(clip)
        except HubstitchValueError as err:
            raise gr.Error(f"The clip was refused: {err}") from None
        times = " · ".join(f"{name}: {seconds:.2f} s" for name, (_, seconds) in answers.items())
        return (*[text for text, _ in answers.values()], f"Time per pipeline (encoder, translator, decoder): {times}")

    def search(query: str, k: float = 5):
        query = check_text(query)
        try:
            stitched, native = index.search(query, int(k))
        except (HubstitchError, OSError, ValueError) as err:
            raise gr.Error(f"Search is unavailable: {err}") from None
        rows = [[[rank + 1, h["text"], round(h["score"], 3)] for rank, h in enumerate(hits)]
                for hits in (stitched, native)]
        shared = len({h["id"] for h in stitched} & {h["id"] for h in native})
        note = (f"{shared} of the top {int(k)} articles are the same: MiniLM's query, translated into MPNet's space, "
                f"searches an index it never encoded.")
        return rows[0], rows[1], note

    def fit(source: str, target: str, dataset: str, n: float, method: str, session: dict | None = None,
            progress=gr.Progress(track_tqdm=True)):
        from ..translators.fit import fit_translator

        progress(0, desc="encoding anchors")
        kind = FIT_DATASETS[dataset]
        try:
            src, tgt = stages.encoder(source), stages.encoder(target)
        except (HubstitchError, OSError, ValueError) as err:
            raise gr.Error(f"Could not load the encoders: {err}") from None
        if kind == "fashion":
            if src.ref.modality != "image" or tgt.ref.modality != "text":
                raise gr.Error(f"{dataset!r} pairs images with captions: choose an image source and a text target "
                               f"(got {src.ref.modality} -> {tgt.ref.modality})")
            anchors, texts = stages.fashion_anchors(int(n))
            x, y = stages.encode(src, anchors.source_items()), stages.encode(tgt, texts)
            provenance = anchors.provenance
            labels = anchors.labels()
        else:
            if src.ref.modality != "text" or tgt.ref.modality != "text":
                raise gr.Error(f"{dataset!r} is text only: choose two text encoders "
                               f"(got {src.ref.modality} -> {tgt.ref.modality})")
            texts = stages.product_texts()[: int(n)]
            x, y, provenance, labels = stages.encode(src, texts), stages.encode(tgt, texts), None, None
        progress(0.8, desc=f"fitting {method}")
        try:
            translator = fit_translator(x, y, method=method, holdout=0.2, seed=0, source_ref=src.ref,
                                        target_ref=tgt.ref, anchors=provenance)
        except HubstitchError as err:
            raise gr.Error(str(err)) from None
        name = f"fitted: {src.ref.model_id} -> {tgt.ref.model_id} ({translator.config.method}, N={len(x)})"
        # this visitor's own: kept in their session (gr.State), never seen by another visitor of the app
        session = {"translators": {**(session or {}).get("translators", {}), name: translator},
                   "fitted": (x, y, translator, labels)}
        held = translator.config.metrics.get("heldout", {})
        metrics = {k: round(v, 4) for k, v in held.items() if k in ("cosine", "top1", "cka", "mse", "mrr")}
        return ({"method": translator.config.method, "n_anchors": len(x), "heldout": metrics},
                gr.update(choices=[NO_TRANSLATOR, *TRANSLATORS, *session["translators"]], value=name), session)

    def _fitted(session: dict | None):
        if not session or session.get("fitted") is None:
            raise gr.Error("Nothing fitted yet: press Fit first.")
        return session["fitted"]

    def save(folder: str, session: dict | None = None):
        translator = _fitted(session)[2]
        if not folder or not folder.strip():
            raise gr.Error("Give a folder to save into.")
        target = Path(folder.strip()).expanduser()
        if not stages.allow_local_paths:  # a public Space: only a plain name, kept inside the workspace
            if len(target.parts) != 1 or target.name in (".", ".."):
                raise gr.Error(f"{folder!r}: give a plain name (no '/'); it is saved in this app's workspace")
            target = stages.workspace / "saved" / target.name
        translator.save_pretrained(target)
        return f"saved to {target.resolve()}"

    def push(repo_id: str, allow_offline_pins: bool = False, session: dict | None = None,
             oauth_token: gr.OAuthToken | None = None):
        if require_login and oauth_token is None:
            raise gr.Error("Sign in with Hugging Face first: a push uses your own account and token.")
        if not repo_id or "/" not in repo_id:
            raise gr.Error(f"repo id {repo_id!r} should look like 'user/name'.")
        translator = _fitted(session)[2]
        token = oauth_token.token if oauth_token is not None else None
        try:
            commit = translator.push_to_hub(repo_id.strip(), token=token,
                                            allow_offline_pins=bool(allow_offline_pins))
        except Exception as err:  # noqa: BLE001 - offline, no token, ...: shown, not crashed on
            raise gr.Error(f"push to {repo_id} failed: {err}") from None
        return f"pushed {repo_id} at {getattr(commit, 'oid', commit)}"

    def inspect(session: dict | None = None):
        from .plots import accuracy_vs_anchors, anchors_2d, similarity_matrices

        if session and session.get("fitted") is not None:
            x, y, translator, labels = session["fitted"]
        else:
            translator = stages.translator(list(TRANSLATORS)[0])
            anchors, texts = stages.fashion_anchors(min(300, stages.n_anchors))
            x = stages.encode(stages.encoder(ENCODERS["MobileNetV2 (images, ImageNet)"]), anchors.source_items())
            y, labels = stages.encode(stages.encoder(ENCODERS["all-MiniLM-L6-v2 (text)"]), texts), anchors.labels()
        import torch

        with torch.no_grad():
            moved = translator(x)
        curve = accuracy_vs_anchors(results) if results.is_file() else None
        return anchors_2d(x, y, moved, labels), similarity_matrices(x, y, moved), curve

    with gr.Blocks(title="hubstitch: stitch models through their latent spaces") as demo:
        session = gr.State(None)  # per visitor: {"translators": {name: fitted translator}, "fitted": the last Fit}
        gr.Markdown("# hubstitch\nAn image encoder stitched to a text classifier that never saw an image: the "
                    "translator maps MobileNetV2's latent space onto all-MiniLM-L6-v2's, fitted on image-caption "
                    "anchor pairs (captions written from Fashion-MNIST's class names); the head was trained on "
                    "product descriptions only.")
        with gr.Tab("Predict"):
            with gr.Row():
                with gr.Column():
                    # a File, not an Image, so that this app (not the component) vets every upload
                    image = gr.File(label="image (PNG or JPEG)", file_types=["image"], type="filepath",
                                    elem_id="predict-image")
                    preview = gr.Image(label="preview", interactive=False, height=160, elem_id="predict-preview")
                    text = gr.Textbox(label="text", placeholder="or type a text (for text encoders)",
                                      elem_id="predict-text")
                    # format=None: the file reaches load_audio as it is (soundfile reads WAV, FLAC, OGG), never
                    # converted through ffmpeg, which a Space does not have
                    audio = gr.Audio(label="or a spoken clip (for audio encoders: Whisper, up to 30 s)",
                                     sources=["upload", "microphone"], type="filepath", format=None,
                                     elem_id="predict-audio")
                    top_k = gr.Slider(1, 10, value=3, step=1, label="top k")
                with gr.Column():
                    pipeline_name = gr.Dropdown(stages.pipeline_names(), value=DEFAULT_PIPELINE,
                                                label="published or local stitched pipeline", allow_custom_value=True)
                    run_pipeline = gr.Button("Predict with this pipeline", variant="primary", elem_id="predict-run")
                    pipeline_out = gr.Label(label="prediction", elem_id="predict-label")
            gr.Markdown("### or compose encoder -> translator -> head")
            with gr.Row():
                encoder = gr.Dropdown(list(ENCODERS), value=list(ENCODERS)[0], label="encoder",
                                      allow_custom_value=True)
                translator = gr.Dropdown([NO_TRANSLATOR, *TRANSLATORS], value=list(TRANSLATORS)[0],
                                         label="translator", allow_custom_value=True)
                head = gr.Dropdown(list(HEADS), value=list(HEADS)[0], label="head", allow_custom_value=True)
            run_composed = gr.Button("Predict with the composed stages")
            with gr.Row():
                composed_out = gr.Label(label="stitched")
                native_out = gr.Label(label="native (head's own encoder)")
            native_note = gr.Markdown()
            examples = sorted(EXAMPLES.glob("*.png"))
            if examples:
                gr.Examples([[DEFAULT_PIPELINE, str(p), "", 3] for p in examples],
                            inputs=[pipeline_name, image, text, top_k], outputs=pipeline_out, fn=predict_pipeline,
                            cache_examples=cache_examples, cache_mode="lazy", label="Fashion-MNIST test images")
        with gr.Tab("Search"):
            gr.Markdown("BBC News articles indexed with **all-mpnet-base-v2** (LanceDB). A query typed here is "
                        "encoded by **all-MiniLM-L6-v2** and translated into MPNet's space (a `StitchedEncoder`): "
                        "the index is never re-embedded. On the right, the same query encoded by MPNet itself.")
            with gr.Row():
                query = gr.Textbox(label="query", value="Shares fell after the bank cut its profit forecast",
                                   elem_id="search-query")
                search_k = gr.Slider(1, 10, value=5, step=1, label="top k")
            search_run = gr.Button("Search", variant="primary")
            with gr.Row():
                headers = ["rank", "article", "cosine"]
                stitched_hits = gr.Dataframe(headers=headers, label="MiniLM query -> translator -> MPNet index")
                native_hits = gr.Dataframe(headers=headers, label="MPNet query (native)")
            search_note = gr.Markdown()
        with gr.Tab("Transcribe"):
            gr.Markdown("Speech recognition with an encoder and a decoder trained apart: **Whisper tiny.en**'s "
                        "encoder, a sequence translator (fitted on spoken BBC titles, synthetic espeak-ng speech), "
                        "and **Whisper base**'s decoder; beside it, each model on its own. The first request fits "
                        "the translator (a few minutes on a CPU).")
            speech_in = gr.Audio(label="a spoken clip (up to 30 s)", sources=["upload", "microphone"],
                                 type="filepath", format=None, elem_id="transcribe-audio")
            speech_run = gr.Button("Transcribe", variant="primary", elem_id="transcribe-run")
            with gr.Row():
                speech_outs = [gr.Textbox(label=name, elem_id=f"transcribe-{i}")
                               for i, name in enumerate([*speech.names, STITCHED])]
            speech_times = gr.Markdown(elem_id="transcribe-times")
        with gr.Tab("Fit"):
            with gr.Row():
                fit_source = gr.Dropdown(list(ENCODERS), value=list(ENCODERS)[0], label="source encoder")
                fit_target = gr.Dropdown(list(ENCODERS), value=list(ENCODERS)[1], label="target encoder")
                fit_data = gr.Dropdown(list(FIT_DATASETS), value=list(FIT_DATASETS)[0], label="anchor dataset")
            with gr.Row():
                fit_n = gr.Slider(50, 2000, value=300, step=50, label="anchors N")
                fit_method = gr.Dropdown(METHODS, value="auto", label="method")
            fit_run = gr.Button("Fit", variant="primary")
            fit_metrics = gr.JSON(label="held-out metrics (20% of the anchors)")
            with gr.Row():
                save_folder = gr.Textbox(label="save to folder")
                save_run = gr.Button("Save")
                repo_id = gr.Textbox(label="push to Hub repo (user/name)")
                if require_login:
                    gr.LoginButton()
                push_run = gr.Button("Push")
            allow_pins = gr.Checkbox(False, label="push even if it pins checkpoints found only on this machine's "
                                                   "offline shelf (it will not load from the Hub as it is)")
            fit_status = gr.Markdown()
        with gr.Tab("Inspect"):
            gr.Markdown("The last fitted translator (or the default one): anchors before and after translation, "
                        "and the similarity structure the two spaces share; below, accuracy against N from "
                        "`benchmarks/bench_stitching.py`.")
            inspect_run = gr.Button("Draw")
            plot_2d, plot_sim, plot_curve = gr.Plot(label="anchors in 2-D"), gr.Plot(label="similarities"), \
                gr.Plot(label="accuracy vs anchors")

        image.change(preview_image, image, preview, api_visibility="private", queue=False)
        run_pipeline.click(predict_pipeline, [pipeline_name, image, text, top_k, audio], pipeline_out,
                           api_name="predict_pipeline", concurrency_limit=concurrency_limit)
        run_composed.click(predict_composed, [encoder, translator, head, image, text, top_k, audio, session],
                           [composed_out, native_out, native_note], api_name="predict_composed",
                           concurrency_limit=concurrency_limit)
        search_run.click(search, [query, search_k], [stitched_hits, native_hits, search_note], api_name="search",
                         concurrency_limit=concurrency_limit)
        speech_run.click(transcribe, speech_in, [*speech_outs, speech_times], api_name="transcribe",
                         concurrency_limit=1)
        fit_run.click(fit, [fit_source, fit_target, fit_data, fit_n, fit_method, session],
                      [fit_metrics, translator, session], api_name="fit", concurrency_limit=1)
        save_run.click(save, [save_folder, session], fit_status, api_name="save")
        push_run.click(push, [repo_id, allow_pins, session], fit_status, api_name="push")
        inspect_run.click(inspect, session, [plot_2d, plot_sim, plot_curve], api_name="inspect",
                          concurrency_limit=1)
    demo.queue(default_concurrency_limit=concurrency_limit)
    demo.stages, demo.search, demo.speech = stages, index, speech
    if warm_up:  # build the default pipeline in the background: the first visitor does not wait for the fit
        threading.Thread(target=stages.pipeline, args=(DEFAULT_PIPELINE,), daemon=True).start()
    return demo
