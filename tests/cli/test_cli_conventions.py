"""The command line as a user meets it: light --help, documented flags with defaults, -v / -q anywhere, progress at
INFO, one-line errors for any failure, inputs checked before weights load, readable `info`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import one_error_line

import hubstitch
from hubstitch.cli.main import build_parser


def _run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "hubstitch.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, **kwargs)


def test_help_imports_neither_torch_nor_transformers():
    code = ("import sys\nfrom hubstitch.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'transformers', 'datasets', 'numpy') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "fit-latents" in result.stdout and "export-st" in result.stdout


def _commands(parser: argparse.ArgumentParser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, (*prefix, name))
    if prefix:
        yield prefix, parser


def test_every_flag_has_help_and_the_help_shows_defaults():
    commands = list(_commands(build_parser()))
    assert {c[0][0] for c in commands} >= {"fit", "fit-latents", "index", "gate", "export-st", "predict", "push"}
    for name, parser in commands:
        for action in parser._actions:
            if action.dest == "help" or isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"hubstitch {' '.join(name)} {action.option_strings or action.dest} has no help"
    rendered = subprocess.run([sys.executable, "-m", "hubstitch.cli", "fit", "--help"], capture_output=True,
                              text=True, timeout=120).stdout
    assert "(default: auto)" in rendered and "the dataset's configuration" in rendered


def test_quiet_and_verbose_work_after_nested_sub_commands_and_help_shows_each_default_once():
    parser = build_parser()
    for argv in (["index", "migrate", "--db", "d", "--table", "a", "--translator", "t", "--to-table", "b", "-q"],
                 ["index", "query", "q", "--db", "d", "--table", "a", "--encoder", "e", "-v"],
                 ["-q", "index", "build", "e", "data.jsonl", "--db", "d", "--table", "t"]):
        parser.parse_args(argv)  # no usage error
    for name, sub in _commands(parser):
        formatter = sub._get_formatter()
        for action in sub._actions:
            shown = formatter._get_help_string(action) or ""
            shown = shown.replace("%(default)s", str(action.default))
            assert shown.lower().count("default") <= 1 and "(default: None)" not in shown, (name, shown)


def test_push_takes_the_repo_first_as_hf_upload_does_and_a_token(tmp_path, monkeypatch, gen, capsys):
    import hubstitch.hub.client as client
    from hubstitch.cli.main import main

    seen = []
    monkeypatch.setattr(client, "upload_folder", None, raising=False)  # never the real one in this test

    def fake_upload(folder, repo_id, **kwargs):
        seen.append((str(folder), repo_id, kwargs["token"]))
        return type("Info", (), {"oid": "c" * 40, "commit_url": "", "pr_url": None})()

    monkeypatch.setattr(client, "upload_folder", fake_upload)
    x = torch.randn(50, 4, generator=gen)
    hubstitch.fit_translator(x, x, method="orthogonal").save_pretrained(tmp_path / "t")
    assert main(["push", "me/translator", str(tmp_path / "t"), "--token", "hf_abc"]) == 0
    assert main(["push", str(tmp_path / "t"), "me/translator"]) == 0  # the old order still works, with a warning
    assert seen == [(str(tmp_path / "t"), "me/translator", "hf_abc"), (str(tmp_path / "t"), "me/translator", None)]
    assert "old order" in capsys.readouterr().err


def test_fit_latents_takes_a_held_out_count_as_its_help_offers(tmp_path, gen, capsys):
    from hubstitch.cli.main import main

    x, y = _latents(tmp_path, gen)
    assert main(["fit-latents", str(x), str(y), "--method", "orthogonal", "--holdout", "100", "--out",
                 str(tmp_path / "t"), "--format", "json", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_heldout"] == 100 and summary["n_anchors"] == 100


def _latents(tmp_path, gen):
    x = torch.randn(200, 8, generator=gen)
    np.save(tmp_path / "x.npy", x.numpy())
    np.save(tmp_path / "y.npy", (x @ torch.linalg.qr(torch.randn(8, 8, generator=gen))[0]).numpy())
    return tmp_path / "x.npy", tmp_path / "y.npy"


@pytest.mark.slow
def test_progress_is_info_shown_by_default_and_quiet_or_verbose_work_after_the_verb(tmp_path, gen):
    x, y = _latents(tmp_path, gen)
    shown = _run("fit-latents", x, y, "--out", tmp_path / "a")
    assert shown.returncode == 0, shown.stderr
    assert "hubstitch: auto chose" in shown.stderr and "WARNING" not in shown.stderr
    quiet = _run("fit-latents", x, y, "--out", tmp_path / "b", "-q")
    assert quiet.returncode == 0 and "auto chose" not in quiet.stderr
    verbose = _run("fit-latents", x, y, "--out", tmp_path / "c", "--verbose")
    assert "INFO hubstitch.translators.fit: auto chose" in verbose.stderr
    before = _run("-q", "fit-latents", x, y, "--out", tmp_path / "d")
    assert before.returncode == 0 and "auto chose" not in before.stderr


@pytest.mark.parametrize("args,message", [
    (["--holdout", "nan"], "'nan' is neither a fraction"),
    (["--alpha", "inf"], "'inf' is not a finite number"),
    (["--method", "linear", "--alpha", "-1"], "'-1' is not a finite number"),
])
def test_bad_option_values_are_refused_by_name(tmp_path, gen, args, message):
    x, y = _latents(tmp_path, gen)
    result = _run("fit-latents", x, y, "--out", tmp_path / "o", *args)
    assert result.returncode == 2 and message in result.stderr


@pytest.mark.slow
def test_unreadable_latents_files_are_one_line_errors(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(tmp_path / "empty.npy", np.zeros((0, 4), dtype=np.float32))
    (tmp_path / "broken.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    (tmp_path / "nothing.safetensors").write_bytes(b"")
    (tmp_path / "text.npy").write_bytes(b"")
    for name, expected in (("objects.npy", "holds pickled Python objects"), ("empty.npy", "latents are empty"),
                           ("broken.safetensors", "not a readable safetensors file"),
                           ("nothing.safetensors", "not a readable safetensors file"),
                           ("text.npy", "not a readable .npy")):
        result = _run("fit-latents", tmp_path / name, tmp_path / name, "--out", tmp_path / "o")
        assert result.returncode == 1, (name, result.stderr)
        assert one_error_line(result.stderr) and expected in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr


def test_an_unforeseen_error_is_still_one_line_and_verbose_shows_the_traceback(tmp_path):
    missing = _run("predict", tmp_path / "no-such-pipeline", "hello")
    assert missing.returncode == 1 and one_error_line(missing.stderr) and "Traceback" not in missing.stderr
    assert "hubstitch predict: error:" in missing.stderr


def test_predict_checks_inputs_before_loading_weights_and_speaks_of_inputs(tiny, tmp_path):
    from hubstitch import ClassifierHead, Encoder, StitchedPipeline

    encoder = Encoder.from_pretrained(tiny["vit"])
    head = ClassifierHead.fit(torch.randn(30, encoder.dim), ["a", "b", "c"] * 10, encoder=encoder.ref)
    StitchedPipeline(encoder, None, head).save_pretrained(tmp_path / "pipe")
    (tmp_path / "not-an-image.png").write_text("hello")
    for inputs, expected in ((["a sentence"], "input 1 ('a sentence') is not a file"),
                             ([str(tmp_path / "not-an-image.png")], "input 1 (")):
        result = _run("predict", tmp_path / "pipe", *inputs)
        assert result.returncode == 1 and expected in result.stderr and "column" not in result.stderr


def test_info_prints_a_translator_readably(tmp_path, gen):
    x, y = _latents(tmp_path, gen)
    _run("fit-latents", x, y, "--method", "orthogonal", "--out", tmp_path / "t")
    result = _run("info", tmp_path / "t")
    assert result.returncode == 0, result.stderr
    assert "held-out metrics:" in result.stdout and "  top1" in result.stdout and "{" not in result.stdout
    data = json.loads(_run("info", tmp_path / "t", "--format", "json").stdout)
    assert data["kind"] == "translator" and data["metrics"]["top1"] > 0.9
    assert hubstitch.__version__


def test_index_query_hits_print_on_one_line_each():
    from hubstitch.cli.retrieval import one_line

    article = "Ad sales boost Time Warner profit\n\nQuarterly profits at US media giant TimeWarner jumped 76%"
    assert one_line(article, 80) == "Ad sales boost Time Warner profit Quarterly profits at US media giant TimeWarne…"
    assert "\n" not in one_line(article, 80) and len(one_line(article, 80)) == 80
    assert one_line("short", 80) == "short"


def test_info_fails_on_unreadable_or_non_finite_weights(tmp_path, gen, capsys):
    from safetensors.torch import load_file, save_file

    from hubstitch.cli.main import main

    x = torch.randn(60, 4, generator=gen)
    hubstitch.fit_translator(x, x, method="linear").save_pretrained(tmp_path / "nan")
    weights = load_file(str(tmp_path / "nan" / "model.safetensors"))
    next(iter(weights.values())).view(-1)[0] = float("nan")
    save_file(weights, str(tmp_path / "nan" / "model.safetensors"))
    assert main(["info", str(tmp_path / "nan")]) == 1
    assert "NaN or infinite" in capsys.readouterr().err
    hubstitch.fit_translator(x, x, method="linear").save_pretrained(tmp_path / "cut")
    (tmp_path / "cut" / "model.safetensors").write_bytes(b"\x00" * 10)
    assert main(["info", str(tmp_path / "cut")]) == 1
    capsys.readouterr()
