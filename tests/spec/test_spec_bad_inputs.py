"""The bad-input corpus: every case is a spec (or a file it names) with one mistake.

Each case runs `bria-pipeline validate` through click's CliRunner and asserts exit code 1, the
exact `file:line` (and column where it is meaningful) and a fragment of the message. The
expected line is the one carrying a `#!` marker comment in the spec text, or given explicitly
where a comment cannot mark it (a tab, a bad byte, an empty file).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from spec_helpers import BASE_DATASETS, Project, line_of, photo_jpeg, png_bytes, run_validate


@dataclass
class Expect:
    spec: Path
    fragment: str
    line: int | None = None  # None: the line of the #! marker
    col: int | None = None
    file: Path | None = None  # where the problem is (default: the spec)
    args: tuple[str, ...] = ()


CASES: dict[str, Callable[[Project], Expect]] = {}


def case(name: str):
    def register(fn: Callable[[Project], Expect]) -> Callable[[Project], Expect]:
        assert name not in CASES
        CASES[name] = fn
        return fn

    return register


def datasets_with(images: str = "      - path: images/*.png\n", extra: str = "", samples: str | None = None) -> str:
    samples = samples or "[images/01.png, images/02.png, images/03.png, images/04.png, images/05.png]"
    return f"datasets:\n  main:\n    images:\n{images}    visual_schema:\n      samples: {samples}\n{extra}"


# -- the file itself ----------------------------------------------------------------------------
@case("malformed-yaml-unclosed-bracket")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: [main\n  other: 1 #!\n")
    return Expect(spec, "invalid YAML")


@case("tab-in-indentation")
def _(p: Project) -> Expect:
    spec = p.write("version: 1\nproject:\n\tname: x\n")
    return Expect(spec, "a tab character in the indentation", line=3, col=1)


@case("duplicate-key")
def _(p: Project) -> Expect:
    spec = p.spec(project="project:\n  name: a\n  ip_type: other\n  ip_medium: photography\n  name: b #!\n")
    return Expect(spec, "duplicate key 'name' (first written at line 3)", col=3)


@case("two-documents")
def _(p: Project) -> Expect:
    spec = p.write("version: 1\n---\nversion: 1\n")
    return Expect(spec, "more than one YAML document", line=2, col=1)


@case("not-utf8")
def _(p: Project) -> Expect:
    spec = p.root / "spec.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_bytes(b"version: 1\nproject:\n  name: caf\xe9\n")
    return Expect(spec, "not UTF-8 (byte 0xe9", line=3, col=12)


@case("empty-file")
def _(p: Project) -> Expect:
    return Expect(p.write(""), "the file is empty", line=1, col=1)


@case("only-comments")
def _(p: Project) -> Expect:
    return Expect(p.write("# nothing yet\n\n"), "the file is empty", line=1, col=1)


@case("only-a-document-marker")
def _(p: Project) -> Expect:
    return Expect(p.write("---\n...\n"), "the file is empty", line=1, col=1)


@case("spec-file-missing")
def _(p: Project) -> Expect:
    return Expect(p.root / "nowhere.yaml", "file not found", line=1, col=1)


@case("huge-file")
def _(p: Project) -> Expect:
    spec = p.write("version: 1\n" + "# padding\n" * 120_000)
    return Expect(spec, "the limit is 1,048,576 bytes", line=1, col=1)


@case("top-level-is-a-list")
def _(p: Project) -> Expect:
    return Expect(p.write("- version: 1\n"), "a spec is a map of sections", line=1, col=1)


@case("python-tag-refused")
def _(p: Project) -> Expect:
    spec = p.spec(project="project:\n  name: !!python/object/apply:os.system [ls] #!\n  ip_type: other\n  ip_medium: photography\n")
    return Expect(spec, "is not allowed in a spec", col=9)


@case("alias-bomb")
def _(p: Project) -> Expect:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]" + (" #!" if i == 5 else ""))
    spec = p.write("\n".join(lines) + "\n")
    return Expect(spec, "expands to more than 200000 values")


# -- schema: types, unknown keys, enums, ranges ---------------------------------------------
@case("wrong-type-rank-string")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: main\n    training_mode: expert\n    training:\n      rank: high #!\n")
    return Expect(spec, "expected an integer, found the string 'high'", col=13)


@case("wrong-type-images-not-a-list")
def _(p: Project) -> Expect:
    spec = p.spec(datasets="datasets:\n  main:\n    images: images/*.png #!\n    visual_schema: {inline: {a: 1}}\n")
    return Expect(spec, "expected a list, found the string", col=13)


@case("unknown-key-did-you-mean")
def _(p: Project) -> Expect:
    spec = p.spec(project="project:\n  name: x\n  ip_tpye: other #!\n  ip_medium: photography\n")
    return Expect(spec, "unknown key 'ip_tpye'", col=3)


@case("unknown-key-hint-names-the-key")
def _(p: Project) -> Expect:
    spec = p.spec(datasets=BASE_DATASETS + "    visual_shema: {} #!\n")
    return Expect(spec, "did you mean 'visual_schema'", col=5)


@case("enum-misspelt-medium")
def _(p: Project) -> Expect:
    spec = p.spec(project="project:\n  name: x\n  ip_type: other\n  ip_medium: photograpy #!\n")
    return Expect(spec, "did you mean 'photography'", col=14)


@case("enum-aspect-ratio")
def _(p: Project) -> Expect:
    spec = p.spec(generate='generate:\n  model: m\n  defaults:\n    aspect_ratio: "16:10" #!\n')
    return Expect(spec, "'16:10' is not an allowed value")


@case("range-rank-above-256")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: main\n    training_mode: expert\n    training:\n      rank: 300 #!\n")
    return Expect(spec, "300 is above the maximum 256")


@case("range-learning-rate")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: main\n    training_mode: expert\n    training:\n      learning_rate: 1e-2 #!\n")
    return Expect(spec, "0.01 is above the maximum 0.001")


@case("range-total-training-steps")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: main\n    training_mode: expert\n    training:\n      total_training_steps: 6000 #!\n")
    return Expect(spec, "6000 is above the maximum 5000")


@case("range-checkpoint-interval")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: main\n    training_mode: expert\n    training:\n      checkpoint_interval: 50 #!\n")
    return Expect(spec, "50 is below the minimum 100")


@case("range-lr-warmup-steps")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: main\n    training_mode: expert\n    training:\n      lr_warmup_steps: 1001 #!\n")
    return Expect(spec, "1001 is above the maximum 1000")


@case("range-guidance-scale")
def _(p: Project) -> Expect:
    spec = p.spec(generate="generate:\n  model: m\n  images:\n    - name: a\n      prompt: a cat\n      guidance_scale: 7 #!\n")
    return Expect(spec, "7 is above the maximum 5")


@case("range-steps-num")
def _(p: Project) -> Expect:
    spec = p.spec(generate="generate:\n  model: m\n  defaults:\n    steps_num: 10 #!\n")
    return Expect(spec, "10 is below the minimum 20")


@case("range-tailored-model-influence")
def _(p: Project) -> Expect:
    spec = p.spec(generate="generate:\n  model: m\n  defaults:\n    tailored_model_influence: 1.6 #!\n")
    return Expect(spec, "1.6 is above the maximum 1.5")


@case("missing-required-project-name")
def _(p: Project) -> Expect:
    spec = p.spec(project="project: #!\n  ip_type: other\n  ip_medium: photography\n")
    return Expect(spec, "missing required key 'name'")


@case("wrong-version")
def _(p: Project) -> Expect:
    return Expect(p.spec(version="version: 2 #!\n"), "expected 1, found the integer 2", col=10)


@case("image-source-path-and-url")
def _(p: Project) -> Expect:
    spec = p.spec(datasets=datasets_with("      - path: images/*.png #!\n        url: https://example.com/a.png\n"))
    return Expect(spec, "give only one of path or url")


@case("image-url-not-http")
def _(p: Project) -> Expect:
    spec = p.spec(datasets=datasets_with("      - path: images/*.png\n      - url: ftp://example.com/a.png #!\n"))
    return Expect(spec, "is not an http(s) URL")


# -- cross-field rules of the contract --------------------------------------------------------
@case("training-params-need-expert")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: main\n    training: #!\n      rank: 64\n")
    return Expect(spec, "training parameters need training_mode: expert")


@case("sweep-needs-expert")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: main\n    sweep: #!\n      rank: [32, 64]\n")
    return Expect(spec, "sweep parameters need training_mode: expert")


@case("sweep-too-large")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: main\n    training_mode: expert\n    sweep: #!\n"
                         "      rank: [8, 16, 32, 64, 128]\n      learning_rate: [0.0001, 0.0002, 0.0003]\n"
                         "      total_training_steps: [500, 1000, 1500, 2000, 2500]\n")
    return Expect(spec, "the sweep makes 75 models (one training each); the limit is 64")


@case("ip-name-required-for-defined-character")
def _(p: Project) -> Expect:
    spec = p.spec(project="project: #!\n  name: x\n  ip_type: defined_character\n  ip_medium: illustration\n  ip_description: a girl\n")
    return Expect(spec, "needs ip_name")


@case("ip-description-required-for-object-variants")
def _(p: Project) -> Expect:
    spec = p.spec(project="project: #!\n  name: x\n  ip_type: object_variants\n  ip_medium: illustration\n")
    return Expect(spec, "needs ip_description")


for _ip_type in ("object_variants", "multi_object_set", "icons", "character_variants"):

    @case(f"{_ip_type}-only-with-illustration")
    def _(p: Project, ip_type: str = _ip_type) -> Expect:
        spec = p.spec(project=f"project:\n  name: x\n  ip_type: {ip_type}\n  ip_medium: photography #!\n  ip_description: a thing\n")
        return Expect(spec, f"ip_type {ip_type} is available only with ip_medium illustration", col=14)


@case("lr-warmup-only-with-constant-with-warmup")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: main\n    training_mode: expert\n    training:\n"
                         "      lr_scheduler: cosine\n      lr_warmup_steps: 100 #!\n")
    return Expect(spec, "lr_warmup_steps only applies to lr_scheduler constant_with_warmup, not cosine")


@case("basic-upload-over-200-images")
def _(p: Project) -> Expect:
    urls = "".join(f"      - https://example.com/img-{i}.png\n" for i in range(201))
    spec = p.spec(datasets="datasets:\n  main:\n    upload_type: basic #!\n    images:\n" + urls + "    complete: false\n")
    return Expect(spec, "a basic dataset takes at most 200 images; this one lists 201")


@case("advanced-upload-over-5000-images")
def _(p: Project) -> Expect:
    urls = "".join(f"      - https://example.com/i{i}.png\n" for i in range(5001))
    spec = p.spec(datasets="datasets:\n  main:\n    upload_type: advanced\n    images: #!\n" + urls + "    complete: false\n",
                  models="", generate="")
    return Expect(spec, "an advanced dataset takes at most 5000 images; this one lists 5001")


@case("fewer-than-5-images-to-complete")
def _(p: Project) -> Expect:
    spec = p.spec(datasets="datasets:\n  main:\n    images: #!\n      - images/01.png\n      - images/02.png\n"
                           "    visual_schema:\n      inline: {style: flat}\n")
    return Expect(spec, "needs at least 5 images to be completed; this one lists 2")


@case("four-schema-samples")
def _(p: Project) -> Expect:
    spec = p.spec(datasets=datasets_with(samples="[images/01.png, images/02.png, images/03.png, images/04.png] #!"))
    return Expect(spec, "needs 5-10 sample images; these name 4")


@case("eleven-schema-samples")
def _(p: Project) -> Expect:
    for i in range(7, 12):
        p.image(f"images/{i:02d}.png", png_bytes(shade=100 + i))
    spec = p.spec(datasets=datasets_with(samples="[images/*.png] #!"))
    return Expect(spec, "needs 5-10 sample images; these name 11")


@case("visual-schema-two-sources")
def _(p: Project) -> Expect:
    spec = p.spec(datasets=datasets_with(extra="      inline: {style: flat}\n").replace("    visual_schema:", "    visual_schema: #!"))
    return Expect(spec, "give exactly one of samples, file or inline, not samples and inline")


@case("visual-schema-file-invalid-json")
def _(p: Project) -> Expect:
    schema = p.root / "schema.json"
    schema.parent.mkdir(parents=True, exist_ok=True)
    schema.write_text('{\n  "style": "flat",\n  "colors": [red]\n}\n')
    spec = p.spec(datasets="datasets:\n  main:\n    images: [images/*.png]\n    visual_schema:\n      file: schema.json\n")
    return Expect(spec, "invalid JSON in the visual schema file", line=3, col=14, file=schema)


@case("visual-schema-file-outside-tree")
def _(p: Project) -> Expect:
    (p.root.parent / "schema.json").write_text('{"style": "flat"}')
    spec = p.spec(datasets="datasets:\n  main:\n    images: [images/*.png]\n    visual_schema:\n      file: ../schema.json #!\n")
    return Expect(spec, "../schema.json is outside the spec's directory", col=13)


@case("unknown-dataset-reference")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: mian #!\n")
    return Expect(spec, "no dataset named 'mian'", col=14)


@case("unknown-model-reference")
def _(p: Project) -> Expect:
    spec = p.spec(generate="generate:\n  model: mm #!\n  images:\n    - name: a\n      prompt: a cat\n")
    return Expect(spec, "no model named 'mm'", col=10)


@case("model-on-draft-dataset")
def _(p: Project) -> Expect:
    spec = p.spec(datasets=BASE_DATASETS + "    complete: false\n", models="models:\n  m:\n    dataset: main #!\n")
    return Expect(spec, "has complete: false; training needs a completed dataset")


@case("checkpoint-needs-expert")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: main\n    checkpoint: 500 #!\n")
    return Expect(spec, "choosing a checkpoint step needs training_mode: expert")


@case("checkpoint-not-a-multiple")
def _(p: Project) -> Expect:
    spec = p.spec(models="models:\n  m:\n    dataset: main\n    training_mode: expert\n    training:\n"
                         "      checkpoint_interval: 200\n      total_training_steps: 1000\n    checkpoint: 500 #!\n")
    return Expect(spec, "checkpoint 500 is not a multiple of checkpoint_interval 200")


@case("caption-for-unknown-image")
def _(p: Project) -> Expect:
    spec = p.spec(datasets=BASE_DATASETS + "    captions:\n      images/07.png: #!\n        refine: fix it\n")
    return Expect(spec, "no image 'images/07.png' in this dataset", col=7)


@case("caption-not-json")
def _(p: Project) -> Expect:
    spec = p.spec(datasets=BASE_DATASETS + "    captions:\n      images/01.png:\n        caption: a cat on a mat #!\n")
    return Expect(spec, "the caption is not valid JSON")


@case("zip-url-on-basic")
def _(p: Project) -> Expect:
    spec = p.spec(datasets="datasets:\n  main:\n    upload_type: basic\n    zip_url: https://example.com/a.zip #!\n"
                           "    visual_schema:\n      inline: {style: flat}\n")
    return Expect(spec, "zip_url is for advanced datasets")


@case("seeds-and-count")
def _(p: Project) -> Expect:
    spec = p.spec(generate="generate:\n  model: m\n  images:\n    - name: a\n      prompt: a cat\n"
                           "      seeds: [1]\n      count: 2 #!\n")
    return Expect(spec, "give either seeds or count, not both", col=7)


@case("prompt-set-without-prompt")
def _(p: Project) -> Expect:
    spec = p.spec(generate="generate:\n  model: m\n  images:\n    - name: a #!\n      seeds: [1]\n")
    return Expect(spec, "has neither prompt nor structured_prompt", col=7)


@case("matrix-too-large")
def _(p: Project) -> Expect:
    values = ", ".join(str(i) for i in range(100))
    spec = p.spec(generate=f"generate:\n  model: m\n  images:\n    - name: a #!\n      prompt: \"{{{{ x }}}} {{{{ y }}}} {{{{ z }}}}\"\n"
                           f"      matrix: {{x: [{values}], y: [{values}], z: [{values}]}}\n      count: 1000\n")
    return Expect(spec, "expands to more than 20,000 images (this set alone: 1,000,000,000)", col=7)


@case("video-from-unknown-image")
def _(p: Project) -> Expect:
    spec = p.spec(generate="generate:\n  model: m\n  images:\n    - name: a\n      prompt: a cat\n      seeds: [1]\n"
                           "  videos:\n    - name: v\n      from: a/seed2 #!\n")
    return Expect(spec, "no generated image 'a/seed2'")


# -- images ---------------------------------------------------------------------------------------
@case("image-missing")
def _(p: Project) -> Expect:
    spec = p.spec(datasets=datasets_with("      - path: images/*.png\n      - path: images/99.png #!\n"))
    return Expect(spec, "images/99.png: file not found", col=15)


@case("glob-matches-nothing")
def _(p: Project) -> Expect:
    spec = p.spec(datasets=datasets_with("      - path: images/*.png\n      - path: extra/*.jpg #!\n"))
    return Expect(spec, "no file matches 'extra/*.jpg'", col=15)


@case("image-outside-tree")
def _(p: Project) -> Expect:
    (p.root.parent / "elsewhere.png").write_bytes(png_bytes(shade=77))
    spec = p.spec(datasets=datasets_with("      - path: images/*.png\n      - path: ../elsewhere.png #!\n"))
    return Expect(spec, "../elsewhere.png is outside the spec's directory", col=15)


@case("image-symlink-out")
def _(p: Project) -> Expect:
    target = p.root.parent / "secret.png"
    target.write_bytes(png_bytes(shade=78))
    os.symlink(target, p.root / "images" / "link.png")
    spec = p.spec(datasets=datasets_with("      - path: images/*.png #!\n"))
    return Expect(spec, "images/link.png is a symlink to", col=15)


@case("gif-named-png")
def _(p: Project) -> Expect:
    p.image("images/07.png", png_bytes(shade=79, fmt="GIF"))
    spec = p.spec(datasets=datasets_with("      - path: images/*.png #!\n"))
    return Expect(spec, "images/07.png: is a GIF image (by its content)", col=15)


@case("text-named-png")
def _(p: Project) -> Expect:
    p.image("images/07.png", b"this is not an image\n")
    spec = p.spec(datasets=datasets_with("      - path: images/*.png #!\n"))
    return Expect(spec, "images/07.png: not an image", col=15)


@case("image-too-small")
def _(p: Project) -> Expect:
    p.image("small/a.png", png_bytes(512, 512, shade=80))
    spec = p.spec(datasets=datasets_with("      - path: images/*.png\n      - path: small/a.png #!\n"))
    return Expect(spec, "small/a.png: 512x512 is smaller than the minimum 1024x1024", col=15)


@case("image-too-small-even-upscaled")
def _(p: Project) -> Expect:
    p.image("small/a.png", png_bytes(200, 300, shade=81))
    spec = p.spec(datasets=datasets_with("      - path: images/*.png\n      - path: small/a.png #!\n        increase_resolution: true\n"))
    return Expect(spec, "200x300 is smaller than 256x256", col=15)


@case("image-too-big")
def _(p: Project) -> Expect:
    p.image("big/a.png", png_bytes(shade=82) + b"\0" * (12 * 1024 * 1024 + 1))
    spec = p.spec(datasets=datasets_with("      - path: images/*.png\n      - path: big/a.png #!\n"))
    return Expect(spec, "big/a.png: 12.0 MB is larger than the limit of 12 MB", col=15)


@case("image-truncated")
def _(p: Project) -> Expect:
    data = png_bytes(shade=83)
    p.image("images/07.png", data[: len(data) * 2 // 3])
    spec = p.spec(datasets=datasets_with("      - path: images/*.png #!\n"))
    return Expect(spec, "images/07.png: the image is corrupt or truncated", col=15)


@case("image-corrupt-data")
def _(p: Project) -> Expect:
    data = bytearray(png_bytes(1024, 1024, shade=84))
    idat = data.index(b"IDAT") + 8
    data[idat: idat + 16] = zlib.compress(b"garbage")[:16]
    p.image("images/07.png", bytes(data))
    spec = p.spec(datasets=datasets_with("      - path: images/*.png #!\n"))
    return Expect(spec, "images/07.png: the image is corrupt or truncated", col=15)


@case("jpeg-truncated")
def _(p: Project) -> Expect:
    data = photo_jpeg(seed=85)
    p.image("photos/a.jpg", data[: len(data) * 2 // 3])
    spec = p.spec(datasets=datasets_with("      - path: images/*.png\n      - path: photos/a.jpg #!\n"))
    return Expect(spec, "photos/a.jpg: the image is corrupt or truncated (truncated", col=15)


@case("jpeg-bad-huffman-table")
def _(p: Project) -> Expect:
    data = bytearray(photo_jpeg(seed=86))
    dht = data.index(b"\xff\xc4") + 4
    data[dht] = 0x7F  # table class 7 does not exist
    p.image("photos/a.jpg", bytes(data))
    spec = p.spec(datasets=datasets_with("      - path: images/*.png\n      - path: photos/a.jpg #!\n"))
    return Expect(spec, "photos/a.jpg: the image is corrupt or truncated (malformed Huffman table", col=15)


@case("duplicate-image-content")
def _(p: Project) -> Expect:
    p.image("copies/first-again.png", p.images[0])
    spec = p.spec(datasets=datasets_with("      - path: images/*.png\n      - path: copies/*.png #!\n"))
    return Expect(spec, "copies/first-again.png: the same image as images/01.png", col=15)


@case("same-file-twice")
def _(p: Project) -> Expect:
    spec = p.spec(datasets=datasets_with("      - path: images/*.png\n      - path: images/03.png #!\n"))
    return Expect(spec, "images/03.png: listed twice", col=15)


# -- templates and variables ----------------------------------------------------------------------
@case("template-undefined-variable")
def _(p: Project) -> Expect:
    spec = p.spec(vars="vars:\n  character: Lucy\n",
                  project='project:\n  name: "{{ charcter }}" #!\n  ip_type: other\n  ip_medium: photography\n')
    return Expect(spec, "undefined variable 'charcter'", col=9)


@case("template-python-internals")
def _(p: Project) -> Expect:
    spec = p.spec(project="project:\n  name: \"{{ ''.__class__.__mro__ }}\" #!\n  ip_type: other\n  ip_medium: photography\n")
    return Expect(spec, "template refused: access to attribute '__class__'", col=9)


@case("template-import")
def _(p: Project) -> Expect:
    spec = p.spec(project="project:\n  name: \"{% import 'os' as os %}x\" #!\n  ip_type: other\n  ip_medium: photography\n")
    return Expect(spec, "'{% import %}' is not allowed in spec templates", col=9)


@case("template-include")
def _(p: Project) -> Expect:
    spec = p.spec(project="project:\n  name: \"{% include '/etc/passwd' %}\" #!\n  ip_type: other\n  ip_medium: photography\n")
    return Expect(spec, "'{% include %}' is not allowed in spec templates", col=9)


@case("template-syntax-error")
def _(p: Project) -> Expect:
    spec = p.spec(project='project:\n  name: "{{ x( }}" #!\n  ip_type: other\n  ip_medium: photography\n')
    return Expect(spec, "template syntax error", col=9)


@case("template-error-inside-block-scalar")
def _(p: Project) -> Expect:
    spec = p.spec(project="project:\n  name: x\n  ip_type: other\n  ip_medium: photography\n"
                          "  description: |\n    first line\n    second {{ missing }} #!\n")
    return Expect(spec, "undefined variable 'missing'")


@case("template-in-prompt-undefined-matrix-variable")
def _(p: Project) -> Expect:
    spec = p.spec(generate="generate:\n  model: m\n  images:\n    - name: a\n      prompt: \"a {{ colour }} cat\" #!\n"
                           "      matrix:\n        color: [red, blue]\n")
    return Expect(spec, "undefined variable 'colour'", col=15)


@case("var-file-duplicate-key")
def _(p: Project) -> Expect:
    var_file = p.write("character: Lucy\ncharacter: Mira\n", name="vars.yaml")
    spec = p.spec()
    return Expect(spec, "duplicate key 'character'", line=2, col=1, file=var_file, args=("--var-file", str(var_file)))


@case("var-name-invalid-in-spec")
def _(p: Project) -> Expect:
    spec = p.spec(vars="vars:\n  2fast: yes #!\n")
    return Expect(spec, "is not a valid name here", col=3)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_reported_at_its_line_with_exit_code_1(name: str, project: Project, cli) -> None:
    expect = CASES[name](project)
    result = run_validate(cli, *expect.args, str(expect.spec))
    assert result.exit_code == 1, result.output
    where = expect.file or expect.spec
    line = expect.line if expect.line is not None else line_of(expect.spec)
    rows = result.output.splitlines()
    matching = [row for row, after in zip(rows, rows[1:] + [""])
                if row.startswith(f"{where}:{line}:") and (expect.fragment in row or expect.fragment in after)]
    assert matching, f"expected {expect.fragment!r} at {where.name}:{line} in:\n{result.output}"
    if expect.col is not None:
        assert any(row.startswith(f"{where}:{line}:{expect.col}:") for row in matching), result.output
    assert "FAILED:" in result.output


def test_corpus_has_at_least_40_cases() -> None:
    assert len(CASES) >= 40
