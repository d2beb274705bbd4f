"""Text for the cross-modal stitch on Fashion-MNIST: anchor captions and, separately, product descriptions.

No image-caption pairs ship with any registry package, so the cross-modal anchors are built: each anchor image is
paired with a caption **written from its class name** through varied templates ("a grayscale photo of a sneaker").
The text classifier is trained on something else entirely: short product descriptions written by hand for each
class (shop-style copy that never describes these images), embedded by a text encoder. An image classified
correctly through encoder -> translator -> that head is a zero-shot transfer across modalities.

Example:
    >>> from hubstitch.shelf.fashion_text import captions, product_descriptions
    >>> captions(["Sneaker", "Bag"], seed=0)
    ['an image showing a trainer', 'a photo of a handbag']
    >>> texts, labels = product_descriptions()
    >>> len(texts), sorted(set(labels))[:3]
    (100, ['Ankle boot', 'Bag', 'Coat'])
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..errors import HubstitchValueError

CAPTION_TEMPLATES = ("a photo of a {}", "a grayscale photo of a {}", "a low resolution photo of a {}",
                     "a picture of a {} on a plain background", "a small image of a {}", "a centred shot of a {}",
                     "an image showing a {}", "a black and white picture of a {}")
CLASS_NOUNS = {
    "T-shirt/top": ("t-shirt", "top", "tee"), "Trouser": ("pair of trousers", "pair of pants"),
    "Pullover": ("pullover", "sweater", "jumper"), "Dress": ("dress",), "Coat": ("coat", "jacket"),
    "Sandal": ("sandal",), "Shirt": ("shirt", "button-up shirt"), "Sneaker": ("sneaker", "trainer"),
    "Bag": ("bag", "handbag"), "Ankle boot": ("ankle boot", "boot"),
}
PRODUCT_DESCRIPTIONS = {
    "T-shirt/top": ["Soft cotton crew-neck tee with short sleeves", "Relaxed fit basic t-shirt for everyday wear",
                    "Sleeveless jersey tank top", "Graphic print cotton tee",
                    "Slim fit v-neck t-shirt in organic cotton",
                    "Lightweight summer top with short sleeves", "Classic white t-shirt, pack of two",
                    "Cropped knit top with a round neckline", "Breathable sports tee for running",
                    "Oversized boxy t-shirt"],
    "Trouser": ["Straight leg chino trousers with belt loops", "High-waisted wide leg pants",
                "Slim fit stretch jeans in dark denim", "Tailored wool trousers with a pressed crease",
                "Relaxed cargo pants with side pockets", "Elasticated jogging bottoms",
                "Cropped linen trousers for summer", "Skinny leggings in stretch cotton", "Pleated suit trousers",
                "Bootcut denim jeans"],
    "Pullover": ["Chunky knit wool jumper", "Crew neck cashmere sweater", "Cosy fleece pullover with long sleeves",
                 "Cable knit sweater in merino wool", "Hooded sweatshirt with a kangaroo pocket",
                 "Fine knit roll-neck jumper", "Oversized knitted pullover", "Striped cotton sweater",
                 "V-neck lambswool jumper", "Warm winter sweater with ribbed cuffs"],
    "Dress": ["Floral midi dress with a tie waist", "Little black dress for evening wear",
              "Sleeveless summer dress in linen", "Wrap dress with long sleeves", "Bodycon dress in stretch jersey",
              "Pleated maxi dress", "Shirt dress with buttons down the front", "A-line party dress",
              "Strappy slip dress in satin", "Casual t-shirt dress"],
    "Coat": ["Double-breasted wool overcoat", "Water-resistant parka with a fur-trimmed hood",
             "Quilted puffer jacket", "Classic beige trench coat with a belt", "Padded winter coat, knee length",
             "Tailored blazer-style coat", "Denim jacket with button pockets", "Lightweight rain jacket",
             "Faux leather biker jacket", "Long camel coat with notch lapels"],
    "Sandal": ["Leather flip-flops for the beach", "Strappy flat sandals", "Open-toe heeled sandals",
               "Sporty walking sandals with velcro straps", "Gladiator sandals with ankle straps",
               "Slide sandals with a cushioned footbed", "Wedge sandals for summer", "Cork sole buckle sandals",
               "Espadrille sandals", "Toe-post sandals in tan leather"],
    "Shirt": ["Oxford button-down shirt", "Slim fit formal shirt with a spread collar", "Checked flannel shirt",
              "Long-sleeved linen shirt", "Denim shirt with snap buttons", "Short-sleeved printed holiday shirt",
              "Classic white dress shirt for the office", "Striped poplin shirt", "Grandad collar shirt",
              "Oversized corduroy overshirt"],
    "Sneaker": ["Low-top canvas sneakers", "Running shoes with cushioned soles", "White leather trainers",
                "Lace-up sports shoes for the gym", "Slip-on skate shoes", "Retro basketball sneakers",
                "Lightweight knit running trainers", "Court sneakers with rubber soles", "Chunky dad trainers",
                "Breathable mesh walking shoes"],
    "Bag": ["Leather tote bag with a zip pocket", "Crossbody bag with an adjustable strap",
            "Canvas backpack for school", "Small clutch purse for the evening", "Weekend duffel bag",
            "Quilted shoulder bag with a chain strap", "Laptop messenger bag", "Woven straw beach bag",
            "Mini handbag with a top handle", "Recycled nylon shopper"],
    "Ankle boot": ["Chelsea boots in suede", "Lace-up leather ankle boots", "Heeled ankle boots with a side zip",
                   "Chunky sole combat boots", "Waterproof hiking boots", "Western ankle boots with a block heel",
                   "Desert boots in tan suede", "Platform ankle boots", "Shearling-lined winter boots",
                   "Pointed-toe ankle booties"],
}


def captions(labels: Sequence[str], seed: int = 0) -> list[str]:
    """One caption per class name in `labels`, template and noun drawn with `seed` (reproducible)."""
    unknown = sorted(set(labels) - set(CLASS_NOUNS))
    if unknown:
        raise HubstitchValueError(f"labels {unknown[:3]} are not Fashion-MNIST classes; expected one of "
                                  f"{list(CLASS_NOUNS)}")
    rng = random.Random(seed)
    return [rng.choice(CAPTION_TEMPLATES).format(rng.choice(CLASS_NOUNS[label])) for label in labels]


def product_descriptions() -> tuple[list[str], list[str]]:
    """The hand-written product descriptions and their class names (10 per class)."""
    texts, labels = [], []
    for label, lines in PRODUCT_DESCRIPTIONS.items():
        texts.extend(lines)
        labels.extend([label] * len(lines))
    return texts, labels
