"""Decoders that generate, sequence translators and stitched generation pipelines, on tiny random Whisper-shaped
checkpoints (mechanics: the real checkpoints' quality is in test_generation_real.py and bench_generation)."""

from __future__ import annotations

import json

import pytest
import soundfile
import tiny_models as tm
import torch

import hubstitch
from hubstitch import AnchorSet, Decoder, Encoder, StitchedPipeline, fit_from_encoders
from hubstitch.decoders.decoder import DecoderError
from hubstitch.decoders.tuning import decoder_loss, refine_with_decoder
from hubstitch.errors import ArtifactError, DimensionError, HubstitchValueError, LatentsError
from hubstitch.math.sequence import frame_pairs, with_context
from hubstitch.spaces import IncompatibleStagesError
from hubstitch.translators.sequence import fit_sequence_translator

TRANSCRIPTS = ["the cat", "the dog and the cat", "news today", "sport and money", "hello world", "the world today"]


@pytest.fixture(scope="module")
def whispers(tmp_path_factory):
    root = tmp_path_factory.mktemp("whispers")
    return {"a": tm.whisper_generator(root / "a", 16, seed=0), "b": tm.whisper_generator(root / "b", 24, seed=1)}


@pytest.fixture(scope="module")
def clip_set(tmp_path_factory):
    """16 tone clips as WAV files with transcripts, loaded as an AnchorSet (column audio, text)."""
    root = tmp_path_factory.mktemp("clips")
    rows = []
    for i, (wave, rate) in enumerate(tm.clips(16, seed=3)):
        soundfile.write(root / f"clip{i}.wav", wave, rate)
        rows.append({"audio": str(root / f"clip{i}.wav"), "text": TRANSCRIPTS[i % len(TRANSCRIPTS)]})
    (root / "clips.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root / "clips.jsonl"


@pytest.fixture(scope="module")
def stages(whispers):
    return (Encoder.from_pretrained(whispers["a"]), Encoder.from_pretrained(whispers["b"]),
            Decoder.from_pretrained(whispers["a"]), Decoder.from_pretrained(whispers["b"]))


def test_context_stacks_each_frame_with_its_neighbours_like_a_loop(gen):
    x = torch.randn(3, 7, 4, generator=gen)
    stacked = with_context(x, 2)
    for t in range(7):
        expected = torch.cat([x[:, min(max(t + k, 0), 6)] for k in range(-2, 3)], dim=1)
        assert torch.equal(stacked[:, t], expected)
    assert with_context(x, 0) is x
    with pytest.raises(LatentsError, match="context=-1"):
        with_context(x, -1)


def test_frame_pairs_take_the_clip_and_a_seeded_sample_of_padding(gen):
    x, y = torch.randn(2, 30, 4, generator=gen), torch.randn(2, 30, 5, generator=gen)
    mask = torch.zeros(2, 30, dtype=torch.long)
    mask[0, :10], mask[1, :4] = 1, 1
    px, py = frame_pairs(x, y, mask, padding_frames=3, generator=torch.Generator().manual_seed(1))
    assert px.shape == (10 + 3 + 4 + 3, 4) and py.shape == (20, 5)
    assert torch.equal(px[:10], x[0, :10]) and torch.equal(py[13:17], y[1, :4])
    again = frame_pairs(x, y, mask, padding_frames=3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again[0], px)
    with pytest.raises(LatentsError, match="same time grid"):
        frame_pairs(x, y[:, :20], mask)


def test_a_known_rotation_of_every_frame_is_recovered_with_context_and_round_trips(gen, tmp_path):
    x = torch.randn(8, 40, 6, generator=gen, dtype=torch.float64)
    q = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))[0]
    translator = fit_sequence_translator(x, x @ q + 0.5, method="linear", context=1, alpha=1e-8, padding_frames=0)
    assert translator.config.kind == "sequence" and translator.config.context == 1
    assert translator.config.format_version == 3
    assert torch.allclose(translator(x), x @ q + 0.5, atol=1e-5)
    translator.save_pretrained(tmp_path / "t")
    config = json.loads((tmp_path / "t" / "config.json").read_text())
    assert (config["kind"], config["context"], config["format_version"]) == ("sequence", 1, 3)
    reloaded = hubstitch.Translator.from_pretrained(tmp_path / "t")
    assert torch.equal(reloaded(x), translator(x))
    with pytest.raises(DimensionError, match="add a batch axis"):
        translator(x[0])
    vector = hubstitch.fit_translator(x[0], x[0] @ q, method="orthogonal")
    assert vector.config.format_version == 2  # hubstitch builds before sequence translators still read it
    with pytest.raises(DimensionError, match="sequences of shape .* vector translator"):
        vector(x)


@pytest.mark.parametrize(("change", "message"), [
    ({"format_version": 2}, "sequence translators are format 3"),
    ({"kind": "frames"}, "kind"),
    ({"context": 99}, "context"),
])
def test_sequence_translator_configs_are_checked(gen, tmp_path, change, message):
    x = torch.randn(4, 20, 5, generator=gen)
    fit_sequence_translator(x, x, method="orthogonal").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(change)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match=message):
        hubstitch.Translator.from_pretrained(tmp_path)


def test_an_identity_translator_reproduces_the_native_transcription_token_for_token(stages, gen):
    encoder, _, decoder, _ = stages
    states, mask = encoder.encode_frames(tm.clips(6, seed=5), progress=False)
    identity = fit_sequence_translator(states, states, mask, method="orthogonal", source_ref=encoder.frames_ref,
                                       target_ref=encoder.frames_ref)
    assert (identity(states) - states).abs().max() < 1e-4
    native = decoder.generate_ids(states)
    assert decoder.generate_ids(identity(states)) == native
    assert any(len(ids) > 1 for ids in native)  # the decoder generated something to compare
    pipe = StitchedPipeline(encoder, identity, decoder)
    assert pipe(tm.clips(6, seed=5)) == [{"text": t} for t in decoder.generate(states)]


def test_decoder_refuses_what_it_cannot_read(stages, tiny):
    encoder, _, decoder, _ = stages
    with pytest.raises(DecoderError, match=r"reads \(n, 1500, 16\)"):
        decoder.generate(torch.zeros(1, 1500, 24))
    with pytest.raises(DecoderError, match="NaN"):
        decoder.generate(torch.full((1, 1500, 16), float("nan")))
    with pytest.raises(DecoderError, match="'bert' checkpoint"):
        Decoder.from_pretrained(tiny["bert"])
    with pytest.raises(DecoderError, match="not known"):
        Decoder.from_pretrained(decoder.folder, temperature_schedule=3)
    with pytest.raises(hubstitch.HubstitchValueError, match="text encoder"):
        Encoder.from_pretrained(tiny["bert"]).encode_frames(["hello"])


def test_pipelines_refuse_stages_of_the_other_kind(stages, gen):
    source, target, decoder_a, decoder_b = stages
    vector = hubstitch.fit_translator(torch.randn(40, 16, generator=gen), torch.randn(40, 24, generator=gen),
                                      method="linear", source_ref=source.ref, target_ref=target.ref)
    with pytest.raises(IncompatibleStagesError, match="vector translator maps one latent per item"):
        StitchedPipeline(source, vector, decoder_b)
    states, mask = source.encode_frames(tm.clips(3), progress=False)
    targets, _ = target.encode_frames(tm.clips(3), progress=False)
    sequence = fit_sequence_translator(states, targets, mask, source_ref=source.frames_ref,
                                       target_ref=target.frames_ref)
    head = hubstitch.ClassifierHead.fit(torch.randn(20, 24, generator=gen), ["a", "b"] * 10, epochs=2,
                                        encoder=target.ref)
    with pytest.raises(IncompatibleStagesError, match="sequence translator maps frames"):
        StitchedPipeline(source, sequence, head)
    with pytest.raises(IncompatibleStagesError, match="translator gives model_id=.*/b. but the decoder expects"):
        StitchedPipeline(source, sequence, decoder_a)  # the translator lands in b's space, not a's
    StitchedPipeline(source, None, decoder_a)  # natively: a's encoder and a's decoder


def test_tuning_by_the_decoder_loss_lowers_it_and_records_how(stages):
    source, target, _, decoder = stages
    x, mask = source.encode_frames(tm.clips(8, seed=7), progress=False)
    y, _ = target.encode_frames(tm.clips(8, seed=7), progress=False)
    texts = [TRANSCRIPTS[i % 6] for i in range(8)]
    plain = fit_sequence_translator(x, y, mask, source_ref=source.frames_ref, target_ref=target.frames_ref)
    sequences = decoder.token_sequences(texts)
    with torch.no_grad():
        before = float(decoder_loss(plain, decoder, x, sequences))
    tuned = refine_with_decoder(plain, x, texts, decoder, epochs=6, lr=3e-2, batch_size=4, progress=False)
    with torch.no_grad():
        after = float(decoder_loss(tuned, decoder, x, sequences))
    assert after < before - 1e-3  # a random tiny decoder leans little on its input: the loss falls, not far
    assert not torch.equal(tuned.translation.map.weight, plain.translation.map.weight)
    assert not torch.equal(tuned.translation.map.bias, plain.translation.map.bias)
    assert plain.config.method == "linear" and tuned.config.method == "affine"  # a copy, with a bias now
    refinement = tuned.config.refinement
    assert refinement["objective"] == "decoder-loss" and refinement["clips"] == 8 and refinement["epochs"] == 6
    assert refinement["decoder"]["model_id"] == decoder.ref.model_id and len(refinement["loss_per_epoch"]) == 6
    orthogonal = fit_sequence_translator(x, y, mask, method="orthogonal")
    with pytest.raises(HubstitchValueError, match="cannot be tuned"):
        refine_with_decoder(orthogonal, x, texts, decoder)
    with pytest.raises(HubstitchValueError, match="transcripts for"):
        refine_with_decoder(plain, x, texts[:3], decoder)


def test_fit_from_encoders_fits_a_tuned_sequence_translator_from_clips(stages, clip_set, tmp_path):
    source, target, _, decoder = stages
    anchors = AnchorSet.load(str(clip_set), source_column="audio")
    translator = fit_from_encoders(source, target, anchors, sequence=True, transcript_column="text", holdout=4,
                                   epochs=2, progress=False)
    assert translator.config.kind == "sequence" and translator.config.refinement["transcripts"] == "given"
    assert translator.config.refinement["clips"] == 12 and translator.config.anchors.n == 12
    wer = translator.config.metrics["heldout_wer"]
    assert wer["clips"] == 4 and wer["against"] == "transcripts"
    assert {"stitched", "untuned", "target_native"} <= set(wer)
    # clips alone: the target model's own transcription of the anchors is what the map learns to reproduce
    alone = fit_from_encoders(source, target, anchors, sequence=True, holdout=4, epochs=1, progress=False)
    assert alone.config.refinement["transcripts"] == "target-model"
    assert alone.config.metrics["heldout_wer"]["against"] == "target-model transcription"
    untuned = fit_from_encoders(source, target, anchors, sequence=True, holdout=4, refine="none", progress=False)
    assert untuned.config.refinement is None and untuned.config.method == "linear"


def test_fit_from_encoders_refuses_sequence_fits_it_cannot_make_before_any_work(stages, clip_set, tiny, tmp_path):
    source, target, _, _ = stages
    anchors = AnchorSet.load(str(clip_set), source_column="audio")
    with pytest.raises(hubstitch.HubstitchValueError, match="transcript column 'words'"):
        fit_from_encoders(source, target, anchors, sequence=True, transcript_column="words")
    with pytest.raises(hubstitch.HubstitchValueError, match="unpaired pools"):
        fit_from_encoders(source, target, anchors, sequence=True, unpaired=anchors)
    with pytest.raises(hubstitch.HubstitchValueError, match="frame grids differ"):
        fit_from_encoders(source, Encoder.from_pretrained(tm.wav2vec2_model(tmp_path / "w2v")), anchors,
                          sequence=True)
    with pytest.raises(hubstitch.HubstitchValueError, match="text encoder"):
        fit_from_encoders(Encoder.from_pretrained(tiny["bert"]), target, anchors, sequence=True)
    with pytest.raises(hubstitch.HubstitchValueError, match="applies to sequence translators"):
        fit_from_encoders(source, target, anchors, transcript_column="text")


def test_a_generating_pipeline_round_trips_through_the_loopback_hub_by_id(stages, whispers, loopback_hub, gen):
    from huggingface_hub import HfApi

    api = HfApi()
    for name, folder in whispers.items():
        api.create_repo(f"tester/whisper-{name}")
        api.upload_folder(repo_id=f"tester/whisper-{name}", folder_path=str(folder))
    source, target = Encoder.from_pretrained("tester/whisper-a"), Encoder.from_pretrained("tester/whisper-b")
    decoder = Decoder.from_pretrained("tester/whisper-b", num_beams=2)
    assert len(decoder.ref.revision) == 40 and decoder.ref.pooling == "none"
    clips = tm.clips(6, seed=11)
    x, mask = source.encode_frames(clips, progress=False)
    y, _ = target.encode_frames(clips, progress=False)
    translator = fit_sequence_translator(x, y, mask, source_ref=source.frames_ref, target_ref=target.frames_ref)
    pipe = StitchedPipeline(source, translator, decoder)
    before = pipe(clips)
    sha = pipe.push_to_hub("tester/stitched-asr").oid
    card = (api.hf_hub_download("tester/stitched-asr", "README.md", revision=sha))
    text = open(card).read()
    assert "pipeline_tag: automatic-speech-recognition" in text
    assert "- tester/whisper-a" in text and "- tester/whisper-b" in text  # both base models
    loaded = StitchedPipeline.from_pretrained("tester/stitched-asr", revision=sha)
    assert loaded.decoder.generate_options == {"num_beams": 2}
    assert loaded(clips) == before and isinstance(before[0]["text"], str)
    assert loaded(clips[0]) == before[0]  # one clip, one answer


def test_sequence_translators_compose_frame_by_frame_and_their_card_and_info_say_so(gen, tmp_path):
    import subprocess
    import sys

    x = torch.randn(5, 30, 6, generator=gen)
    r1, r2 = torch.randn(6, 6, generator=gen), torch.randn(6, 4, generator=gen)
    ab = fit_sequence_translator(x, x @ r1, method="linear", context=1, padding_frames=0, source_ref="org/a",
                                 target_ref="org/b")
    bc = fit_sequence_translator(x @ r1, x @ r1 @ r2, method="linear", padding_frames=0, source_ref="org/b",
                                 target_ref="org/c")
    ac = hubstitch.compose(ab, bc)
    assert (ac.kind, ac.config.context) == ("sequence", 1)
    assert torch.allclose(ac(x), bc(ab(x)), atol=1e-4)
    with pytest.raises(HubstitchValueError, match="can only come first"):
        hubstitch.compose(bc, ab)
    vector = hubstitch.fit_translator(torch.randn(40, 4, generator=gen), torch.randn(40, 4, generator=gen),
                                      method="linear", source_ref="org/c", target_ref="org/d")
    with pytest.raises(HubstitchValueError, match="cannot compose vector and sequence"):
        hubstitch.compose(bc, vector)
    ab.save_pretrained(tmp_path / "ab")
    card = (tmp_path / "ab" / "README.md").read_text()
    assert "**sequence translator**" in card and "its 1 neighbours on each side" in card
    assert "torch.randn(2, 1500, 6)" in card and "frame pairs" in card
    info = subprocess.run([sys.executable, "-m", "hubstitch.cli", "info", str(tmp_path / "ab"), "--format", "json"],
                          capture_output=True, text=True, timeout=300)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["kind"] == "sequence translator" and json.loads(info.stdout)["context"] == 1


def test_word_error_rate_equals_jiwer_on_random_texts(seed):
    import random

    import jiwer

    from hubstitch.decoders.wer import normalize_text, word_error_rate

    rng = random.Random(seed)
    words = ["the", "cat", "dog", "sat", "on", "a", "mat", "news", "today"]
    references = [" ".join(rng.choices(words, k=rng.randint(1, 9))) for _ in range(40)]
    hypotheses = [" ".join(rng.choices(words, k=rng.randint(0, 9))) for _ in range(40)]
    assert word_error_rate(references, hypotheses) == pytest.approx(jiwer.wer(references, hypotheses), abs=1e-12)
    assert normalize_text("Don't STOP, 'now' - ok?") == "don't stop now ok"
    with pytest.raises(HubstitchValueError, match="parallel"):
        word_error_rate(["a"], [])
