#!/usr/bin/env python3
"""Render synthetic part-label images with known text, for testing an OCR step.

Requires Pillow only:   pip install pillow==13.0.0
and the DejaVu fonts:   apt-get install fonts-dejavu-core

Usage:
    python3 render.py OUT_DIR --count 12 --seed 2026 [--cases CASES.toml] [--rgb]

Writes OUT_DIR/label-001.png ... and OUT_DIR/truth.json, a list of
    {"image": "label-001.png", "lines": ["LOT 482913", ...], "font": "DejaVuSans.ttf",
     "rotation_deg": 1.7, "blur": 0.6, "noise": 4.2, ...}
With --cases, also writes golden cases for `pv-host test` (image paths relative
to the cases file). The output is a pure function of --seed and the font files.

Images are 8-bit grayscale PNGs (mode L) by default: the labels are grey ink on
a grey card anyway, and L is a third of the RGB size. Pass --rgb for RGB PNGs.
Note that `pv-host test` hands a gray PNG to the package as gray8.
"""

import argparse
import json
import math
import os
import random
import sys

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
# All four from Debian's fonts-dejavu-core. Not used: DejaVuSansCondensed.ttf
# (it is in fonts-dejavu-extra; narrow type is made by squeezing, see CONDENSED)
# and DejaVuSansMono(-Bold).ttf, whose O and 0 PP-OCRv4 cannot tell apart: it
# reads "LOT" as "L0T" on nearly every mono label.
FONTS = [
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
]

# Rendering ranges, tuned (see README.md) so that RapidOCR 1.4.4 (PP-OCRv4) reads
# ~95% of the lines exactly and ~99% up to spaces, and 12 PNGs stay under 600 KB.
CAP_HEIGHT = (18, 40)        # px, height of a capital letter (triangular,
CAP_MODE = 28                #   most near 28 px; at most 34 px with 3 lines, 28 with 4)
WIDTH = (480, 800)           # px
MAX_ASPECT = 6.0             # width / height
MIN_HEIGHT = 120             # px
ROTATION = (-4.0, 4.0)       # degrees, whole label
BLUR_EVERY = 3               # every third label gets a Gaussian blur
BLUR = (0.4, 1.0)            # blur radius, px
NOISE = (3.0, 5.0)           # Gaussian noise sigma, grey levels (triangular, most
NOISE_MODE = 3.0             #   near 3): more costs PNG size and makes PP-OCR drop spaces
LINE_PITCH = (1.6, 1.9)      # baseline to baseline, in cap heights
WORD_GAP = (0.75, 0.85)      # gap between the words of a line, in cap heights
                             #   (narrower: spaces dropped; wider: lines split in two)
MARGIN = (4, 10)             # px, label block to image edge
BORDER_P = 0.4               # share of labels with a thin border line
CARD = (200, 240)            # background brightness at its brightest
SHADE = (15, 45)             # how much darker the dim side of the card is
INK = (15, 60)               # ink grey level

CONDENSED_P = 0.3            # share of labels set in condensed type
CONDENSED = (0.8, 0.9)       #   squeezed horizontally to this width

# Letters in codes: as on real part and serial numbers, no I or O (read as 1, 0).
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"


def die(message):
    sys.exit(f"render.py: {message}")


def load_fonts():
    missing = [name for name in FONTS if not os.path.isfile(os.path.join(FONT_DIR, name))]
    if missing:
        die(f"missing font(s) {', '.join(missing)} in {FONT_DIR}; "
            "install them with: apt-get install fonts-dejavu-core")
    return [os.path.join(FONT_DIR, name) for name in FONTS]


# ---- text -------------------------------------------------------------------

def digits(rng, n):
    return "".join(rng.choice(DIGITS) for _ in range(n))


def letters(rng, n):
    return "".join(rng.choice(LETTERS) for _ in range(n))


def lot_line(rng):
    return f"LOT {digits(rng, 6)}"


def date_line(rng):
    year = rng.randint(2024, 2028)
    if rng.random() < 0.6:
        return f"DATE {year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return f"D/C {year % 100:02d}{rng.randint(1, 52):02d}"


def serial_line(rng):
    return f"S/N {letters(rng, 2)}-{digits(rng, 4)}-{digits(rng, 3)}"


def part_line(rng):
    return f"P/N {digits(rng, 4)}-{digits(rng, 3)}-{rng.choice(LETTERS)}"


def qty_line(rng):
    return f"QTY {rng.choice([10, 25, 50, 100, 200, 250, 500, 1000, 2000])} PCS"


def misc_line(rng):
    return rng.choice([
        "MADE IN EU",
        f"REV {rng.choice(LETTERS)}",
        # No space after a colon: PP-OCRv4 reads "REV: C7" as "REV:C7" anyway.
        f"REV:{rng.choice(LETTERS)}{rng.randint(1, 9)}",
        f"EXP:{rng.randint(2026, 2030)}-{rng.randint(1, 12):02d}",
        f"BIN {rng.choice(LETTERS)}{rng.randint(1, 40):02d}",
    ])


def label_lines(rng):
    """2-4 lines; the first names the lot, which the golden cases check."""
    others = [date_line, serial_line, part_line, qty_line, misc_line]
    n = rng.randint(1, 3)
    return [lot_line(rng)] + [make(rng) for make in rng.sample(others, n)]


# ---- pixels -----------------------------------------------------------------

def font_for_cap_height(path, cap):
    """The font at the size whose capital 'H' is `cap` px tall."""
    probe = ImageFont.truetype(path, 100)
    left, top, right, bottom = probe.getbbox("H")
    size = max(6, round(100 * cap / (bottom - top)))
    return ImageFont.truetype(path, size)


def background(rng, width, height):
    """A light card lit unevenly: a linear gradient in a random direction plus a vignette."""
    top = rng.randint(*CARD)
    shade = rng.randint(*SHADE)
    angle = rng.uniform(0, 360)
    grad = Image.linear_gradient("L").rotate(angle, resample=Image.Resampling.BICUBIC)
    # Keep the centre square of the rotated ramp (no empty corners), stretch it.
    grad = grad.crop((48, 48, 208, 208)).resize((width, height), Image.Resampling.BICUBIC)
    lin_share = rng.uniform(0.5, 0.9)
    lin = grad.point(lambda v: round(v / 255 * shade * lin_share))
    vig = Image.radial_gradient("L").resize((width, height), Image.Resampling.BICUBIC)
    vig = vig.point(lambda v: round(min(v, 255) / 255 * shade * (1 - lin_share)))
    card = Image.new("L", (width, height), top)
    return ImageChops.subtract(ImageChops.subtract(card, lin), vig)


def add_noise(rng, img, sigma):
    """Gaussian noise of `sigma` grey levels, independent per pixel, from the
    seeded RNG (Pillow's effect_noise is not seeded)."""
    w, h = img.size
    gauss = rng.gauss
    data = bytes(max(0, min(255, round(128 + gauss(0.0, sigma)))) for _ in range(w * h))
    return ImageChops.add(img, Image.frombytes("L", (w, h), data), scale=1.0, offset=-128)


def line_width(font, line, gap):
    words = line.split(" ")
    return sum(font.getlength(w) for w in words) + gap * (len(words) - 1)


def render_label(rng, fonts, index):
    """Label number `index` (1-based), drawn from `rng`: (image, metadata)."""
    lines = label_lines(rng)
    font_path = rng.choice(fonts)
    # More lines, smaller type: keeps the labels, and the PNGs, compact.
    cap = round(rng.triangular(CAP_HEIGHT[0], CAP_HEIGHT[1] - 6 * (len(lines) - 2), CAP_MODE))
    squeeze = round(rng.uniform(*CONDENSED), 2) if rng.random() < CONDENSED_P else 1.0
    angle = round(rng.uniform(*ROTATION), 2)
    blur = round(rng.uniform(*BLUR), 2) if index % BLUR_EVERY == 0 else 0.0
    sigma = round(rng.triangular(NOISE[0], NOISE[1], NOISE_MODE), 2)
    border = rng.random() < BORDER_P
    ink = rng.randint(*INK)
    max_width = rng.randint(*WIDTH)
    spacing = rng.uniform(*LINE_PITCH)
    gap_share = rng.uniform(*WORD_GAP)
    pad_share = rng.uniform(0.6, 0.9) if border else 0.5
    align = rng.choice(["left", "left", "center"])

    # Shrink the type until the rotated text block fits the width drawn.
    while True:
        font = font_for_cap_height(font_path, cap)
        # Fields on labels are set well apart: the gap between words is wider
        # than DejaVu's space, or PP-OCR tends to drop it.
        gap = max(font.getlength(" "), gap_share * cap / squeeze)
        text_w = max(line_width(font, line, gap) for line in lines)  # before squeezing
        pitch = round(cap * spacing)
        text_h = pitch * (len(lines) - 1) + cap
        pad = round(cap * pad_share)
        block_w = math.ceil(text_w * squeeze) + 2 * pad
        block_h = text_h + 2 * pad
        rad = math.radians(abs(angle))
        rot_w = block_w * math.cos(rad) + block_h * math.sin(rad)
        rot_h = block_w * math.sin(rad) + block_h * math.cos(rad)
        if rot_w + 2 * MARGIN[0] <= max_width or cap <= CAP_HEIGHT[0]:
            break
        cap -= 1
    if rot_w + 2 * MARGIN[0] > WIDTH[1]:
        raise ValueError(f"lines too long for a {WIDTH[1]} px label: {lines}")
    width = min(WIDTH[1], max(WIDTH[0], math.ceil(rot_w) + 2 * rng.randint(*MARGIN)))
    height = max(MIN_HEIGHT, math.ceil(rot_h) + 2 * rng.randint(*MARGIN), math.ceil(width / MAX_ASPECT))

    # The text, upright, at full width; then squeezed (condensed type).
    room = cap  # above the cap line and below the baseline, for '/' and the like
    text = Image.new("L", (math.ceil(text_w) + 2, text_h + 2 * room), 0)
    draw = ImageDraw.Draw(text)
    h_top = font.getbbox("H")[1]  # offset from the draw origin to the cap top
    for i, line in enumerate(lines):
        x = (text_w - line_width(font, line, gap)) / 2 if align == "center" else 0
        y = room + i * pitch - h_top
        for word in line.split(" "):
            draw.text((x, y), word, font=font, fill=255)
            x += font.getlength(word) + gap
    if squeeze != 1.0:
        text = text.resize((round(text.width * squeeze), text.height), Image.Resampling.LANCZOS)

    # Ink mask: the text block (and border) centred on the label, then rotated
    # bicubic, the background (mask 0) filling in.
    mask = Image.new("L", (width, height), 0)
    x0 = (width - block_w) // 2
    y0 = (height - block_h) // 2
    mask.paste(text, (x0 + pad, y0 + pad - room))
    if border:
        inset = round(pad * 0.45)
        thick = rng.choice([1, 2, 2, 3])
        ImageDraw.Draw(mask).rectangle(
            (x0 + inset, y0 + inset, x0 + block_w - inset, y0 + block_h - inset),
            outline=255, width=thick)
    mask = mask.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=0)

    card = background(rng, width, height)
    img = Image.composite(Image.new("L", (width, height), ink), card, mask)
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    img = add_noise(rng, img, sigma)

    meta = {
        "lines": lines,
        "font": os.path.basename(font_path),
        "font_size": font.size,
        "cap_height_px": cap,
        "condensed": squeeze,
        "word_gap_px": round(gap * squeeze, 1),
        "rotation_deg": angle,
        "blur": blur,
        "noise": sigma,
        "border": border,
        "ink": ink,
        "width": width,
        "height": height,
    }
    return img, meta


# ---- cases ------------------------------------------------------------------

def toml_basic(s):
    return json.dumps(s)  # a JSON string of ASCII text is a valid TOML basic string


def lot_regex(lot_line_text):
    word, number = lot_line_text.split(" ", 1)
    return rf"{word}\s*{number}"


def write_cases(path, out_dir, truth, rng, command):
    rel_dir = os.path.relpath(out_dir, os.path.dirname(os.path.abspath(path)) or ".")
    prefix = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
    lots = {entry["lines"][0].split(" ", 1)[1] for entry in truth}
    n = len(truth)
    ok = set(range(0, n, 2))                       # every other label: its own lot, OK
    ng = [i for i in range(1, n, 2)][: max(1, n // 4)]  # a few: a lot not on the label, NG
    out = [
        "# Golden cases for `pv-host test` on the synthetic part labels (paths relative",
        "# to this file): `expected` is a regex the label's lot line must match, OK when",
        "# the label carries that lot, NG when it does not.",
        "# (generated by labels/render.py; do not edit by hand; run here to regenerate:",
        f"# {command})",
        "iou = 0.5",
    ]
    for i, entry in enumerate(truth):
        if i in ok:
            lot = entry["lines"][0]
            verdict = "OK"
            name = f"{entry['image'][:-4]} {lot}"
        elif i in ng:
            wrong = "000000"
            while wrong in lots or (i != ng[0] and wrong == "000000"):
                wrong = "".join(rng.choice(DIGITS) for _ in range(6))
            lot = f"LOT {wrong}"
            verdict = "NG"
            name = f"{entry['image'][:-4]} is not {lot}"
        else:
            continue
        regex = lot_regex(lot)
        assert "'" not in regex
        out += [
            "",
            "[[case]]",
            f"name = {toml_basic(name)}",
            f"image = {toml_basic(prefix + entry['image'])}",
            f"pid = \"LBL-1\"",
            f"verdict = \"{verdict}\"",
            "[case.params]",
            f"expected = '{regex}'",  # TOML literal string: the backslash stays as is
        ]
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(out) + "\n")


# ---- main -------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--cases", help="also write golden cases for `pv-host test` to this TOML file")
    ap.add_argument("--rgb", action="store_true", help="save RGB PNGs instead of grayscale (L)")
    args = ap.parse_args()
    if args.count < 1:
        die("--count must be at least 1")

    fonts = load_fonts()
    os.makedirs(args.out_dir, exist_ok=True)
    truth = []
    total = 0
    for k in range(1, args.count + 1):
        # One RNG per label, seeded from --seed and the label number (a string
        # seed is hashed with SHA-512, the same on every platform): a label does
        # not change when --count does.
        label_rng = random.Random(f"{args.seed}/{k}")
        img, meta = render_label(label_rng, fonts, k)
        name = f"label-{k:03d}.png"
        path = os.path.join(args.out_dir, name)
        (img.convert("RGB") if args.rgb else img).save(path, optimize=True)
        size = os.path.getsize(path)
        total += size
        truth.append({"image": name, **meta, "seed": args.seed})
        print(f"{name}  {meta['width']}x{meta['height']}  {size / 1024:5.1f} KB  "
              f"{meta['font']} cap={meta['cap_height_px']} rot={meta['rotation_deg']} "
              f"blur={meta['blur']} noise={meta['noise']}  {' | '.join(meta['lines'])}")
    with open(os.path.join(args.out_dir, "truth.json"), "w", encoding="ascii") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    print(f"total {total / 1024:.1f} KB in {args.count} images")
    if args.cases:
        # The command as run from the directory of the cases file.
        here = os.path.dirname(os.path.abspath(args.cases))
        command = (f"python3 {os.path.relpath(os.path.abspath(__file__), here)} "
                   f"{os.path.relpath(os.path.abspath(args.out_dir), here)} --count {args.count} "
                   f"--seed {args.seed} --cases {os.path.basename(args.cases)}")
        write_cases(args.cases, args.out_dir, truth, random.Random(f"{args.seed}/cases"), command)
        print(f"wrote {args.cases}")


if __name__ == "__main__":
    main()
