"""Writes the small image fixtures of tests/runtime/test_image_io.cpp.

Run with Debian's python3 (it has PIL): /usr/bin/python3 tools/make_image_fixtures.py
"""
import os

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "images")


def gradient(w, h):
    img = Image.new("RGB", (w, h))
    img.putdata([((x * 37 + y * 11) % 256, (x * 5 + y * 53) % 256, (x * y) % 256)
                 for y in range(h) for x in range(w)])
    return img


def main():
    os.makedirs(OUT, exist_ok=True)
    img = gradient(13, 7)
    img.save(os.path.join(OUT, "gradient_13x7.png"))
    img.save(os.path.join(OUT, "gradient_13x7.bmp"))
    img.save(os.path.join(OUT, "gradient_13x7.jpg"), quality=95)
    for name in ("gradient_13x7.png", "gradient_13x7.jpg", "gradient_13x7.bmp"):
        data = open(os.path.join(OUT, name), "rb").read()
        stem, ext = os.path.splitext(name)
        with open(os.path.join(OUT, stem + "_truncated" + ext), "wb") as f:
            f.write(data[: len(data) * 2 // 3])
    with open(os.path.join(OUT, "not_an_image.png"), "wb") as f:
        f.write(b"this is plain text, not a PNG\n" * 4)


if __name__ == "__main__":
    main()
