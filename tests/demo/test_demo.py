"""The Gradio app, driven through its HTTP API with gradio_client, on the real model shelf, on 127.0.0.1.

Each endpoint is called as a Space visitor would; answers are checked against the same stages called directly.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("gradio")

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "hubstitch" / "demo" / "assets").glob("*.png"))
MOBILENET = "MobileNetV2 (images, ImageNet)"
MINILM_HEAD = "Fashion products, MiniLM space (trained on product descriptions)"
MPNET, MPNET_TO_MINILM = "all-mpnet-base-v2 (text)", "MPNet -> MiniLM (product texts and captions)"


@pytest.fixture(scope="module")
def app(shelf_cache, shelf_data, tmp_path_factory):
    from hubstitch.demo.app import build_demo

    demo = build_demo(workspace=tmp_path_factory.mktemp("demo-workspace"), n_anchors=300, concurrency_limit=4,
                      hub_cache=shelf_cache, datasets_dir=shelf_data["fashion_mnist"].parent, local_files_only=True,
                      speech_anchors=16)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app.local_url, verbose=False)


def _top(label_output) -> str:
    return label_output["label"]


def _expected(app, image_path: Path) -> str:
    from PIL import Image

    from hubstitch.demo.stages import DEFAULT_PIPELINE

    with Image.open(image_path) as image:
        return app.stages.pipeline(DEFAULT_PIPELINE)(image.convert("RGB"), top_k=1)[0]["label"]


@pytest.mark.slow
def test_predict_pipeline_classifies_fashion_images_zero_shot(app, client):
    from gradio_client import handle_file

    from hubstitch.demo.stages import DEFAULT_PIPELINE

    answers = {}
    for path in EXAMPLES:
        out = client.predict(DEFAULT_PIPELINE, handle_file(str(path)), "", 3, api_name="/predict_pipeline")
        assert _top(out) == _expected(app, path)
        assert len(out["confidences"]) == 3
        answers[path.name.rsplit("_test", 1)[0]] = _top(out)
    # the easy classes are right, with a head that never saw an image
    assert answers["sneaker"] == "Sneaker" and answers["trouser"] == "Trouser" and answers["bag"] == "Bag"


@pytest.mark.slow
def test_predict_composed_text_through_a_translator_and_beside_the_native_encoder(client):
    stitched, native, note = client.predict(MPNET, MPNET_TO_MINILM, MINILM_HEAD, None,
                                            "Lace-up leather boots that stop just above the ankle", 3,
                                            api_name="/predict_composed")
    assert _top(stitched) == "Ankle boot" and _top(native) == "Ankle boot"
    assert "sentence-transformers/all-MiniLM-L6-v2" in note


@pytest.mark.slow
def test_incompatible_stages_are_refused_with_the_reason(client, tmp_path):
    from gradio_client import handle_file

    from hubstitch.demo.stages import NO_TRANSLATOR

    with pytest.raises(Exception, match="do not fit together") as caught:
        client.predict(MOBILENET, NO_TRANSLATOR, MINILM_HEAD, handle_file(str(EXAMPLES[0])), "", 3,
                       api_name="/predict_composed")
    assert "1280" in str(caught.value) or "all-MiniLM" in str(caught.value)


@pytest.mark.slow
def test_bad_inputs_get_clear_messages_and_the_app_keeps_answering(app, client, tmp_path):
    from gradio_client import handle_file

    from hubstitch.demo.stages import DEFAULT_PIPELINE

    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not a picture")
    with pytest.raises(Exception, match="not an image"):
        client.predict(DEFAULT_PIPELINE, handle_file(str(not_image)), "", 3, api_name="/predict_pipeline")
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG" + b"\0" * (11 * 1024 * 1024))
    with pytest.raises(Exception, match="limit is 10 MB"):
        client.predict(DEFAULT_PIPELINE, handle_file(str(huge)), "", 3, api_name="/predict_pipeline")
    with pytest.raises(Exception, match="No image"):
        client.predict(DEFAULT_PIPELINE, None, "", 3, api_name="/predict_pipeline")
    with pytest.raises(Exception, match="text is empty"):
        client.predict(MPNET, MPNET_TO_MINILM, MINILM_HEAD, None, "   ", 3, api_name="/predict_composed")
    out = client.predict(DEFAULT_PIPELINE, handle_file(str(EXAMPLES[0])), "", 1, api_name="/predict_pipeline")
    assert _top(out) == _expected(app, EXAMPLES[0])


@pytest.mark.slow
def test_search_queries_the_mpnet_index_with_minilm_through_a_translator(app, client):
    documents = app.search.documents()
    title = documents[7]["title"]
    stitched, native, note = client.predict(title, 5, api_name="/search")
    stitched_titles = [row[1] for row in stitched["data"]]
    native_titles = [row[1] for row in native["data"]]
    assert len(stitched_titles) == len(native_titles) == 5
    assert native_titles[0] == title and title in stitched_titles  # an article's own title finds it either way
    assert "of the top 5 articles are the same" in note
    direct = app.search.search(title, 5)
    assert [h["text"] for h in direct[0]] == stitched_titles
    config = app.search.parts()["stitched"].translator.config  # the index recipe: orthogonal, with sentences
    assert config.method == "orthogonal" and config.n_anchors > 2 * 200
    with pytest.raises(Exception, match="The text is empty"):
        client.predict("  ", 5, api_name="/search")


@pytest.mark.slow
def test_fit_shows_heldout_metrics_saves_and_inspect_draws(client, tmp_path):
    from hubstitch import Translator

    metrics, choice = client.predict(MOBILENET, "all-MiniLM-L6-v2 (text)",
                                     "Fashion-MNIST images + class captions (image -> text)", 200, "linear",
                                     api_name="/fit")
    assert metrics["n_anchors"] == 200 and {"cosine", "top1", "cka"} <= set(metrics["heldout"])
    choice = choice["value"] if isinstance(choice, dict) else choice  # a dropdown update: new value, choices
    assert choice.startswith("fitted: hubstitch/mobilenet_v2-torchvision -> sentence-transformers/all-MiniLM-L6-v2")
    status = client.predict(str(tmp_path / "fitted"), api_name="/save")
    assert "saved to" in status
    reloaded = Translator.from_pretrained(tmp_path / "fitted")
    assert reloaded.config.method == "linear" and reloaded.config.source.dim == 1280
    plots = client.predict(api_name="/inspect")
    assert len(plots) == 3 and all(p is not None for p in plots[:2])


@pytest.mark.slow
def test_a_visitors_fit_is_their_own_session_not_the_apps(app, tmp_path):
    """What one visitor fits (the dropdown entry, save, push, inspect) is kept in their session: another visitor of
    the same app sees nothing fitted and cannot compose with it by name."""
    from gradio_client import Client

    fitter, other = (Client(app.local_url, verbose=False) for _ in range(2))
    _, choice = fitter.predict(MPNET, "all-MiniLM-L6-v2 (text)", "product descriptions + captions (text -> text)",
                               150, "orthogonal", api_name="/fit")
    name = choice["value"] if isinstance(choice, dict) else choice
    stitched, _, _ = fitter.predict(MPNET, name, MINILM_HEAD, None, "a pair of leather ankle boots", 3,
                                    api_name="/predict_composed")
    assert stitched["label"] and len(stitched["confidences"]) == 3
    with pytest.raises(Exception, match="Nothing fitted yet"):
        other.predict(str(tmp_path / "theirs"), api_name="/save")
    with pytest.raises(Exception, match="Nothing fitted yet"):
        other.predict("tester/not-mine", False, api_name="/push")
    with pytest.raises(Exception, match="Could not load the stages"):
        other.predict(MPNET, name, MINILM_HEAD, None, "a pair of leather ankle boots", 3,
                      api_name="/predict_composed")
    assert not (tmp_path / "theirs").exists()
    assert "saved to" in fitter.predict(str(tmp_path / "mine"), api_name="/save")


@pytest.mark.slow
def test_eight_concurrent_clients_get_correct_answers(app):
    """Four image requests and four text requests (through a shared tokenizer) at once."""
    from gradio_client import Client, handle_file

    from hubstitch.demo.stages import DEFAULT_PIPELINE

    texts = ["Suede chelsea boots", "A roomy leather tote", "Slim fit stretch jeans", "Cable knit wool jumper"]
    composed = app.stages.compose(MPNET, MPNET_TO_MINILM, MINILM_HEAD)
    jobs = [("image", EXAMPLES[i]) for i in range(4)] + [("text", t) for t in texts]
    expected = [_expected(app, x) if kind == "image" else composed(x, top_k=1)[0]["label"] for kind, x in jobs]

    def ask(job) -> str:
        kind, x = job
        client = Client(app.local_url, verbose=False)
        if kind == "image":
            return _top(client.predict(DEFAULT_PIPELINE, handle_file(str(x)), "", 1, api_name="/predict_pipeline"))
        return _top(client.predict(MPNET, MPNET_TO_MINILM, MINILM_HEAD, None, x, 1, api_name="/predict_composed")[0])

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, jobs))
    assert answers == expected


@pytest.mark.slow
def _browser():
    """Headless chromium through selenium; skipped where it is missing, failed when CI requires it."""
    import shutil

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        message = "needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
        if os.environ.get("HUBSTITCH_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1500"):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)


def test_a_headless_browser_uploads_an_image_clicks_and_reads_the_label(app, tmp_path):
    """Debian's chromium + chromium-driver through selenium. CI sets HUBSTITCH_REQUIRE_BROWSER=1 so that a missing
    browser fails there; elsewhere it skips. HUBSTITCH_SCREENSHOT=docs/demo.png refreshes the README's picture."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _browser()
    try:
        browser.get(app.local_url)
        wait = WebDriverWait(browser, 300)
        upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#predict-image input[type=file]")))
        sneaker = next(p for p in EXAMPLES if p.name.startswith("sneaker"))
        upload.send_keys(str(sneaker))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#predict-preview img")))  # upload done
        wait.until(ec.element_to_be_clickable((By.ID, "predict-run"))).click()
        expected = _expected(app, sneaker)
        wait.until(ec.text_to_be_present_in_element((By.ID, "predict-label"), expected))
        assert expected == "Sneaker"
        shot = Path(os.environ.get("HUBSTITCH_SCREENSHOT") or tmp_path / "demo.png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:4] == b"\x89PNG"
    finally:
        browser.quit()


def test_a_public_space_refuses_server_paths_but_takes_hub_ids(tmp_path):
    from hubstitch.demo.stages import DemoStages
    from hubstitch.errors import HubstitchValueError

    public = DemoStages(tmp_path, allow_local_paths=False)
    for name in ("/etc", str(tmp_path), "../secrets", "~/models"):
        with pytest.raises(HubstitchValueError, match="expected a Hub id 'org/name'$"):
            public._check_location(name)
    assert public._check_location("org/a-translator") == "org/a-translator"
    local = DemoStages(tmp_path, allow_local_paths=True)
    assert local._check_location(str(tmp_path)) == str(tmp_path)
    with pytest.raises(HubstitchValueError, match="or an existing local folder"):
        local._check_location(str(tmp_path / "missing"))


@pytest.mark.slow
def test_push_sends_the_fitted_translator_to_the_hub_in_one_commit(client, monkeypatch, tmp_path):
    from hub_server import HubServer, point_client_at

    from hubstitch import Translator

    with pytest.raises(Exception, match="should look like 'user/name'"):
        client.predict("no-slash", api_name="/push")
    server = HubServer().start()
    try:
        point_client_at(monkeypatch, tmp_path, server.url)  # the app runs in this process: same client settings
        client.predict(MPNET, "all-MiniLM-L6-v2 (text)", "product descriptions + captions (text -> text)", 150,
                       "orthogonal", api_name="/fit")
        # the shelf pins commits the Hub does not have: refused, nothing uploaded, until the visitor allows it
        with pytest.raises(Exception, match="exist only on this machine's offline shelf.*nothing was uploaded"):
            client.predict("tester/demo-translator", False, api_name="/push")
        with pytest.raises(Exception):
            Translator.from_pretrained("tester/demo-translator")
        status = client.predict("tester/demo-translator", True, api_name="/push")
        sha = status.rsplit(" ", 1)[-1]
        assert status.startswith("pushed tester/demo-translator at ") and len(sha) == 40
        pushed = Translator.from_pretrained("tester/demo-translator", revision=sha)
        assert pushed.config.method == "orthogonal" and pushed.config.source.model_id.endswith("all-mpnet-base-v2")
    finally:
        server.stop()


def test_anchor_plot_draws_unlabelled_anchors(gen):
    """Text -> text fits in the Fit tab have no class labels: the 2-D plot still draws every anchor."""
    import torch

    from hubstitch.demo.plots import anchors_2d

    x, y = torch.randn(30, 8, generator=gen), torch.randn(30, 6, generator=gen)
    fig = anchors_2d(x, y, y + 0.1 * torch.randn(30, 6, generator=gen), labels=None)
    assert [sum(len(c.get_offsets()) for c in ax.collections) for ax in fig.axes] == [60, 60]


def test_predict_takes_a_spoken_clip_for_an_audio_pipeline(app, client, tiny, tmp_path):
    """A Whisper -> translator -> text-head pipeline (tiny random) saved in a folder, named in the Predict tab: an
    uploaded WAV (or a microphone recording, the same file path) is classified as the pipeline itself does; a file
    that is not audio and a missing clip get messages."""
    import soundfile
    import tiny_models as tm
    import torch
    from gradio_client import handle_file

    import hubstitch
    from hubstitch import ClassifierHead, Encoder, StitchedPipeline

    whisper = Encoder.from_pretrained(tm.whisper_model(tmp_path / "whisper"))
    text = Encoder.from_pretrained(tiny["bert"])
    x = whisper.encode(tm.clips(30, seed=4), progress=False)
    y = torch.randn(30, text.dim)
    translator = hubstitch.fit_translator(x, y, method="linear", source_ref=whisper.ref, target_ref=text.ref)
    head = ClassifierHead.fit(y, ["speech", "music", "noise"] * 10, epochs=30, encoder=text.ref)
    StitchedPipeline(whisper, translator, head).save_pretrained(tmp_path / "audio-pipe")
    clip, rate = tm.clips(1, seed=5)[0]
    soundfile.write(tmp_path / "clip.wav", clip, rate, subtype="FLOAT")
    expected = StitchedPipeline.from_pretrained(tmp_path / "audio-pipe")((clip, rate), top_k=3)
    out = client.predict(str(tmp_path / "audio-pipe"), None, "", 3, handle_file(str(tmp_path / "clip.wav")),
                         api_name="/predict_pipeline")
    assert out["label"] == expected[0]["label"]
    assert {c["label"]: c["confidence"] for c in out["confidences"]} == pytest.approx(
        {p["label"]: p["score"] for p in expected}, abs=1e-5)
    (tmp_path / "notes.wav").write_text("this is not a recording")
    with pytest.raises(Exception, match="not audio soundfile can read"):
        client.predict(str(tmp_path / "audio-pipe"), None, "", 3, handle_file(str(tmp_path / "notes.wav")),
                       api_name="/predict_pipeline")
    with pytest.raises(Exception, match="No audio"):
        client.predict(str(tmp_path / "audio-pipe"), None, "", 3, None, api_name="/predict_pipeline")


def _spoken(text: str, path: Path) -> Path:
    """espeak-ng's voice saying `text`, as a 16 kHz WAV (synthetic speech)."""
    import io

    import soundfile

    from hubstitch.shelf.datasets import speak

    samples, rate = soundfile.read(io.BytesIO(speak(text, "en-us", 150)), dtype="float32")
    soundfile.write(path, samples, rate)
    return path


@pytest.mark.slow
def test_transcribe_shows_both_natives_and_the_stitched_pipeline_with_times(app, client, tmp_path):
    """The Transcribe tab: the clip through tiny.en, base and tiny.en -> base (fitted on first use, here on 16
    spoken titles), each answer as the pipeline itself gives it, with the time each took."""
    import shutil

    from gradio_client import handle_file

    from hubstitch.demo.transcribe import STITCHED

    if not shutil.which("espeak-ng"):
        pytest.skip("needs espeak-ng (apt-get install espeak-ng)")
    clip = _spoken("Please open the window.", tmp_path / "window.wav")
    tiny, base, stitched, times = client.predict(handle_file(str(clip)), api_name="/transcribe")
    pipelines = app.speech.pipelines()
    expected = {name: pipe([str(clip)])[0]["text"] for name, pipe in pipelines.items()}
    assert [tiny, base, stitched] == list(expected.values())
    assert "open the window" in tiny.lower() and "open the window" in base.lower()
    assert pipelines[STITCHED].translator.config.refinement["clips"] == 16
    assert times.startswith("Time per pipeline") and times.count(" s") == 3
    with pytest.raises(Exception, match="No audio"):
        client.predict(None, api_name="/transcribe")


@pytest.mark.slow
def test_a_headless_browser_opens_transcribe_uploads_a_clip_and_reads_three_transcriptions(app, tmp_path):
    import shutil

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    if not shutil.which("espeak-ng"):
        pytest.skip("needs espeak-ng (apt-get install espeak-ng)")
    clip = _spoken("Good morning, everyone.", tmp_path / "morning.wav")
    expected = [pipe([str(clip)])[0]["text"] for pipe in app.speech.pipelines().values()]
    browser = _browser()
    try:
        browser.get(app.local_url)
        wait = WebDriverWait(browser, 300)
        tab = wait.until(ec.element_to_be_clickable((By.XPATH, "//button[@role='tab'][contains(., 'Transcribe')]")))
        tab.click()
        upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#transcribe-audio input[type=file]")))
        upload.send_keys(str(clip))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#transcribe-audio audio")))  # upload done
        wait.until(ec.element_to_be_clickable((By.ID, "transcribe-run"))).click()
        for i, text in enumerate(expected):
            wait.until(ec.text_to_be_present_in_element_value((By.CSS_SELECTOR, f"#transcribe-{i} textarea"), text))
        wait.until(ec.text_to_be_present_in_element((By.ID, "transcribe-times"), "Time per pipeline"))
        assert "morning" in expected[0].lower()
        shot = tmp_path / "transcribe.png"
        assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:4] == b"\x89PNG"
    finally:
        browser.quit()


def test_on_a_networked_space_real_hub_ids_load_from_the_hub_and_offline_from_the_shelf(loopback_hub, tiny,
                                                                                        tmp_path, monkeypatch):
    """Where the Hub answers, MiniLM loads by id from it (its own commit, never an offline-only shelf commit);
    offline, the shelf seeds it; a conversion made here (MobileNetV2) always comes from the shelf."""
    from huggingface_hub import HfApi

    import hubstitch.hub.client as client_module
    import hubstitch.shelf.models as shelf_models
    from hubstitch.demo.stages import DemoStages
    from hubstitch.shelf.models import IMAGE_ENCODER, TEXT_ENCODERS

    minilm = TEXT_ENCODERS[0]
    HfApi().create_repo(minilm)
    commit = HfApi().upload_folder(repo_id=minilm, folder_path=str(tiny["bert"])).oid  # stands in for the real one
    shelved = []
    monkeypatch.setattr(shelf_models, "install_shelf", lambda ids, cache_dir=None: shelved.extend(ids))
    monkeypatch.setattr(client_module, "_REACHABLE", {})
    stages = DemoStages(tmp_path / "workspace", hub_cache=tmp_path / "hub-cache")
    assert stages.encoder(minilm).ref.revision == commit and shelved == []
    stages._install_if_shelved(IMAGE_ENCODER)
    assert shelved == [IMAGE_ENCODER]
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    DemoStages(tmp_path / "workspace-2", hub_cache=tmp_path / "hub-cache")._install_if_shelved(minilm)
    assert shelved == [IMAGE_ENCODER, minilm]
