"""Tiny random transformers checkpoints built in the tests, for mechanics (never for quality)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<s>", "</s>", "<pad>", "<unk>"] + list(
    "abcdefghijklmnopqrstuvwxyz") + ["hello", "world", "the", "cat", "dog", "news", "sport", "money", "##s"]
LABELS = {0: "business", 1: "sport", 2: "tech"}


def _bert_tokenizer(folder: Path):
    from transformers import BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    # transformers 5 ignores vocab_file= (a 5-token tokenizer that reads every word as [UNK]): pass the vocabulary
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(VOCAB)})
    assert len(tokenizer) == len(VOCAB), len(tokenizer)
    return tokenizer


def _image_processor(folder: Path, size: int = 32):
    from transformers import ViTImageProcessor

    ViTImageProcessor(size={"height": size, "width": size}).save_pretrained(folder)


def text_model(folder: Path, family: str = "bert", head: bool = False, hidden: int = 32, seed: int = 0) -> Path:
    """Save a tiny `family` text checkpoint (with a sequence-classification head if `head`)."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    common = dict(vocab_size=len(VOCAB), num_labels=3, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    if family == "bert":
        config = tf.BertConfig(hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                               **common)
        model_cls = tf.BertForSequenceClassification if head else tf.BertModel
    elif family == "roberta":
        config = tf.RobertaConfig(hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=64, pad_token_id=0, **common)
        model_cls = tf.RobertaForSequenceClassification if head else tf.RobertaModel
    elif family == "distilbert":
        config = tf.DistilBertConfig(dim=hidden, n_layers=2, n_heads=2, hidden_dim=64, **common)
        model_cls = tf.DistilBertForSequenceClassification if head else tf.DistilBertModel
    elif family == "gpt2":
        config = tf.GPT2Config(n_embd=hidden, n_layer=2, n_head=2, n_positions=64, **common)
        model_cls = tf.GPT2Model
    else:
        raise ValueError(family)
    model_cls(config).eval().save_pretrained(folder)
    _bert_tokenizer(folder).save_pretrained(folder)
    return folder


def image_model(folder: Path, family: str = "vit", head: bool = False, seed: int = 0) -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    common = dict(num_labels=3, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    if family == "vit":
        config = tf.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, **common)
        model_cls = tf.ViTForImageClassification if head else tf.ViTModel
    elif family == "mobilenet_v2":
        config = tf.MobileNetV2Config(image_size=32, depth_multiplier=0.35, tf_padding=False, **common)
        model_cls = tf.MobileNetV2ForImageClassification if head else tf.MobileNetV2Model
    else:
        raise ValueError(family)
    model = model_cls(config).eval()
    if family == "mobilenet_v2":  # random BatchNorm statistics, so that features are not all alike
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    model.save_pretrained(folder)
    _image_processor(folder)
    return folder


def clip_model(folder: Path, seed: int = 0) -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    config = tf.CLIPConfig(
        text_config=dict(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64),
        projection_dim=16,
    )
    tf.CLIPModel(config).eval().save_pretrained(folder)
    _bert_tokenizer(folder).save_pretrained(folder)
    _image_processor(folder)
    return folder


def images(n: int, seed: int = 0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [Image.fromarray((rng.random((40, 48, 3)) * 255).astype("uint8")) for _ in range(n)]


TEXTS = ["hello world", "the cat", "the dog and the cat", "news of the world", "sport", "money money money",
         "hello", "the news of sport and money in the world today", "cats", "dogs and cats and worlds"]


def whisper_model(folder: Path, seed: int = 0) -> Path:
    """A tiny random Whisper (encoder and decoder) with its 80-bin feature extractor."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    config = tf.WhisperConfig(vocab_size=64, d_model=16, encoder_layers=1, decoder_layers=1,
                              encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                              decoder_ffn_dim=32, num_mel_bins=80, max_source_positions=1500,
                              max_target_positions=32, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                              decoder_start_token_id=3)
    tf.WhisperForConditionalGeneration(config).eval().save_pretrained(folder)
    tf.WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    return folder


def wav2vec2_model(folder: Path, attention_mask: bool = True, seed: int = 0) -> Path:
    """A tiny random Wav2Vec2: layer-norm feature encoder with an attention mask (the large-model kind), or
    group-norm without one (the base-model kind, whose padding changes the output)."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    config = tf.Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                               conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 4), num_conv_pos_embeddings=8,
                               num_conv_pos_embedding_groups=2, vocab_size=8,
                               feat_extract_norm="layer" if attention_mask else "group",
                               do_stable_layer_norm=attention_mask)
    tf.Wav2Vec2Model(config).eval().save_pretrained(folder)
    tf.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                return_attention_mask=attention_mask).save_pretrained(folder)
    return folder


def ast_model(folder: Path, seed: int = 0) -> Path:
    """A tiny random Audio Spectrogram Transformer: a 1.5 s window (150 frames of 10 ms) of 32 mel bins in patches."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    config = tf.ASTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                          patch_size=16, frequency_stride=16, time_stride=16, max_length=150, num_mel_bins=32)
    tf.ASTModel(config).eval().save_pretrained(folder)
    tf.ASTFeatureExtractor(num_mel_bins=32, max_length=150, sampling_rate=16000).save_pretrained(folder)
    return folder


def clips(n: int, seed: int = 0, rate: int = 16000) -> list[tuple[np.ndarray, int]]:
    """`n` random (waveform, rate) clips of 0.3-1.5 s: tones plus noise, each a different length."""
    gen = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        t = np.arange(int(rate * gen.uniform(0.3, 1.5))) / rate
        wave = 0.5 * np.sin(2 * np.pi * gen.uniform(100, 900) * t) + 0.05 * gen.standard_normal(t.size)
        out.append((wave.astype(np.float32), rate))
    return out


WHISPER_WORDS = ["the", "cat", "dog", "news", "sport", "money", "world", "hello", "today", "and"]


def whisper_generator(folder: Path, d_model: int = 16, seed: int = 0) -> Path:
    """A tiny random Whisper that generates: encoder, decoder, a word-level tokenizer with Whisper's special tokens,
    and a generation config with Whisper's fields (English-only: start, no-timestamps)."""
    import json

    import torch
    import transformers as tf
    from tokenizers import Tokenizer, models, pre_tokenizers

    # Whisper's layout: text tokens first, then the special tokens, the no-timestamps token last (transformers'
    # Whisper generation reads every id above it as a timestamp)
    special = ["<|endoftext|>", "<|startoftranscript|>", "<|transcribe|>", "<|translate|>", "<|startofprev|>",
               "<|notimestamps|>"]
    vocab = {token: i for i, token in enumerate(WHISPER_WORDS + special)}
    end, start, no_timestamps = vocab["<|endoftext|>"], vocab["<|startoftranscript|>"], vocab["<|notimestamps|>"]
    never = [vocab[token] for token in special[1:]]  # generation emits words or the end, as a trained one does
    torch.manual_seed(seed)
    config = tf.WhisperConfig(vocab_size=len(vocab), d_model=d_model, encoder_layers=1, decoder_layers=1,
                              encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                              decoder_ffn_dim=32, num_mel_bins=80, max_source_positions=1500,
                              max_target_positions=24, pad_token_id=end, bos_token_id=end, eos_token_id=end,
                              decoder_start_token_id=start, suppress_tokens=never, begin_suppress_tokens=[end])
    model = tf.WhisperForConditionalGeneration(config).eval()
    model.generation_config = tf.GenerationConfig(
        decoder_start_token_id=start, eos_token_id=end, pad_token_id=end, bos_token_id=end, max_length=24,
        is_multilingual=False, no_timestamps_token_id=no_timestamps, prev_sot_token_id=vocab["<|startofprev|>"],
        suppress_tokens=never, begin_suppress_tokens=[end], return_timestamps=False)
    model.save_pretrained(folder)
    tf.WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.add_special_tokens(special)
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
         "unk_token": "<|endoftext|>"}))
    return folder
